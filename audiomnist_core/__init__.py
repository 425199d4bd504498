"""AudioMNIST reproduction: data, splits, preprocessing, models, training, LRP and manipulations.

Modules are the paper's pipeline stages, in order: ``data`` -> ``splits`` -> ``preprocess`` ->
``models`` -> ``train`` -> ``explain`` -> ``perturb`` -> ``listen`` / ``plots``; ``runs``
stores artifacts and ``cli`` is the ``audiomnist`` command.
"""
__version__ = "0.1.0"
