"""AudioMNIST reproduction: data, splits, preprocessing, models, training, LRP and manipulations.

Three layers. The *stages* are pure, one per step of the paper, in order: ``data`` ->
``splits`` -> ``preprocess`` -> ``models`` -> ``train`` -> ``explain`` -> ``perturb`` ->
``listen`` / ``plots``. The *steps* (``steps``) run them over the run store (``runs``), each
cached by one mechanism that keys on config, inputs and code. *Reporting* (``report``, with the
paper's numbers in ``paper``) turns results into the tables and sentences that the chapters
and ``cli``, the ``audiomnist`` command, show.
"""
__version__ = "0.2.0"
