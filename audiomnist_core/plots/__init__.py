"""The book's figures, one module per chapter: ``dataset``, ``training``, ``relevance``,
``manipulations``, ``beyond``, ``benchmark``; ``layout`` sizes them for the book's column and
shows them as hi-dpi PNGs that carry their size and smallest font. Each function draws arrays
or result dicts into a matplotlib figure and computes nothing that it shows. Import the
chapter's module (``from audiomnist_core.plots import dataset``); this package imports nothing
itself.
"""
