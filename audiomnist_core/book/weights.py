"""Page weights: bytes per built page and of the audio embedded in it."""
from __future__ import annotations

import base64
import re
from pathlib import Path

# Goal per page (issue 6): embedded audio under 5 MB.
AUDIO_BUDGET_BYTES = 5_000_000

AUDIO_URI_RE = re.compile(rb"data:audio/[a-zA-Z0-9.+-]+;base64,([A-Za-z0-9+/=\s]+)")


def page_weights(html: Path) -> dict[str, dict[str, int]]:
    """Bytes per page of the built book and of the audio embedded in it (decoded).

    Returns ``{"book/01_dataset.html": {"bytes": ..., "audio_bytes": ..., "audio_clips": ...}}``
    for every page except Sphinx's own (search, genindex).
    """
    weights = {}
    for page in sorted(html.rglob("*.html")):
        rel = page.relative_to(html).as_posix()
        if rel.startswith(("_static/", "_sources/", "_images/")) or rel in ("search.html", "genindex.html"):
            continue
        blob = page.read_bytes()
        clips = AUDIO_URI_RE.findall(blob)
        audio = sum(len(base64.b64decode(b"".join(c.split()), validate=False)) for c in clips)
        weights[rel] = {"bytes": len(blob), "audio_bytes": audio, "audio_clips": len(clips)}
    return weights


def format_weights(weights: dict[str, dict[str, int]]) -> list[str]:
    lines = []
    for page, w in weights.items():
        flag = "  OVER the 5 MB audio goal" if w["audio_bytes"] > AUDIO_BUDGET_BYTES else ""
        lines.append(
            f"  {page}: {w['bytes'] / 1e6:.2f} MB, audio {w['audio_bytes'] / 1e6:.2f} MB"
            f" in {w['audio_clips']} clips{flag}"
        )
    return lines

