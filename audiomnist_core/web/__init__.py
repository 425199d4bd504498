"""The book's networks in the reader's browser: the exportable LRP graph (:mod:`.graph`), its
ONNX export and check (:mod:`.export`) and the page's section (:mod:`.page`, with the
JavaScript and HTML of ``static/``)."""
