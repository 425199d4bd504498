"""The paper's two networks as explicit modules (SPEC.md, Models).

Every activation is its own non-in-place ``nn.ReLU`` module so that LRP rules attach to it.
Initialisation follows the original Caffe files.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .config import INITS


def _init(layer: nn.Module, std: float, bias: float) -> None:
    nn.init.normal_(layer.weight, 0.0, std)
    nn.init.constant_(layer.bias, bias)


class AlexNet(nn.Module):
    """AlexNet variant on 1 x 227 x 227 spectrograms; grouped conv2/4/5, no LRN.

    ``(B, 1, 227, 227) -> (B, n_classes)`` logits.
    """

    input_shape = (1, 227, 227)

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 96, 11, stride=4),  # (B, 96, 55, 55)
            nn.ReLU(),
            nn.MaxPool2d(3, 2),  # (B, 96, 27, 27)
            nn.Conv2d(96, 256, 5, padding=2, groups=2),  # (B, 256, 27, 27)
            nn.ReLU(),
            nn.MaxPool2d(3, 2),  # (B, 256, 13, 13)
            nn.Conv2d(256, 384, 3, padding=1),  # (B, 384, 13, 13)
            nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1, groups=2),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, groups=2),  # (B, 256, 13, 13)
            nn.ReLU(),
            nn.MaxPool2d(3, 2),  # (B, 256, 6, 6)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 9216)
            nn.Linear(9216, 1024),  # fc6
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(1024, 1024),  # fc7
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(1024, n_classes),  # fc8
        )
        conv1, conv2, conv3, conv4, conv5 = (m for m in self.features if isinstance(m, nn.Conv2d))
        fc6, fc7, fc8 = (m for m in self.classifier if isinstance(m, nn.Linear))
        for layer, std, bias in (
            (conv1, 0.01, 0.0), (conv2, 0.01, 0.1), (conv3, 0.01, 0.0), (conv4, 0.01, 0.1),
            (conv5, 0.01, 0.1), (fc6, 0.005, 0.1), (fc7, 0.005, 0.1), (fc8, 0.01, 0.0),
        ):
            _init(layer, std, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class AudioNet(nn.Module):
    """AudioNet on 1 x 8000 waveforms: six conv(3, pad 1) + ReLU + max-pool blocks, then
    fc7 1024 and fc8 512 without ReLU (as in the original files) and fc9.

    Pooling uses ``ceil_mode=True`` as Caffe does, so the last feature map is 128 x 125.
    ``(B, 1, 8000) -> (B, n_classes)`` logits.
    """

    input_shape = (1, 8000)

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()

        def block(c_in: int, c_out: int, pool: int, stride: int) -> list[nn.Module]:
            return [nn.Conv1d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool1d(pool, stride, ceil_mode=True)]

        self.features = nn.Sequential(
            *block(1, 100, 3, 2),  # (B, 100, 4000)
            *block(100, 64, 2, 2),  # (B, 64, 2000)
            *block(64, 128, 2, 2),  # (B, 128, 1000)
            *block(128, 128, 2, 2),  # (B, 128, 500)
            *block(128, 128, 2, 2),  # (B, 128, 250)
            *block(128, 128, 2, 2),  # (B, 128, 125)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 16000)
            nn.Linear(16000, 1024),  # fc7, linear in the original
            nn.Dropout(0.5),
            nn.Linear(1024, 512),  # fc8, linear in the original
            nn.Dropout(0.5),
            nn.Linear(512, n_classes),  # fc9
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                _init(m, 0.1, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


N_CLASSES = {"digits": 10, "gender": 2}
MODELS: dict[str, Callable[..., nn.Module]] = {"alexnet": AlexNet, "audionet": AudioNet}
# Which input each model reads: the dB spectrogram or the normalised waveform.
INPUTS = {"alexnet": "spectrogram", "audionet": "waveform"}


def glorot(model: nn.Module) -> nn.Module:
    """Re-initialise every conv and linear layer Glorot-uniform with zero bias, in place."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def build(name: str, task: str, init: str = "original") -> nn.Module:
    """A freshly initialised model for ``task`` ("digits" or "gender").

    ``init="original"`` keeps the Caffe files' Gaussians; ``"glorot"`` is Glorot-uniform.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODELS)}")
    if task not in N_CLASSES:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(N_CLASSES)}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; use one of {', '.join(INITS)}")
    model = MODELS[name](N_CLASSES[task])
    return glorot(model) if init == "glorot" else model


def network_input(model_name: str, waves: torch.Tensor, mean: torch.Tensor | None = None, norm: str = "original") -> torch.Tensor:
    """The input of ``model_name`` for padded waveforms ``(N, 8000)``: the spectrogram model's
    dB spectrogram minus ``mean`` (the fold's training mean), the waveform model's waveform
    normalised by ``norm`` (``preprocess.waveform_norm``); see :func:`preprocess.model_input`."""
    from .preprocess import model_input

    return model_input(INPUTS[model_name], waves, mean if INPUTS[model_name] == "spectrogram" else None, norm)
