"""Stand-in inputs shared by the benchmarks that need no corpus."""
from __future__ import annotations

import torch


def noise_bursts(n: int, seed: int) -> torch.Tensor:
    """Noise bursts of 0.3 to 0.9 s at random offsets inside 1 s of zero padding, int16 scale.

    ``(n, 8000)`` float32; seeded by its own generator, the global RNG is left alone.
    """
    g = torch.Generator().manual_seed(seed)
    waves = torch.zeros(n, 8000)
    sizes = torch.randint(2400, 7200, (n,), generator=g)
    for i, size in enumerate(sizes.tolist()):
        start = int(torch.randint(0, 8000 - size, (1,), generator=g))
        waves[i, start : start + size] = 3000 * torch.randn(size, generator=g)
    return waves
