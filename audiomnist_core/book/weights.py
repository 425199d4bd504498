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



def voice_weights(html: Path) -> dict | None:
    """What chapter 07's section loads when the reader asks, in bytes: each network
    (``_static/voice/``, from its manifest), ONNX Runtime Web's files and the sum; None where
    the book serves no networks."""
    import json

    manifest = html / "_static" / "voice" / "voice.json"
    if not manifest.is_file():
        return None
    models = {name: m["bytes"] for name, m in json.loads(manifest.read_text())["models"].items()}
    runtime = sum(p.stat().st_size for p in (html / "_static" / "vendor" / "onnxruntime-web").glob("*") if p.is_file())
    return {"models": models, "runtime_bytes": runtime, "total_bytes": sum(models.values()) + runtime}


def format_voice_weights(weights: dict) -> list[str]:
    parts = ", ".join(f"{name} {b / 1e6:.1f} MB" for name, b in weights["models"].items())
    return [f"  chapter 07's networks, loaded when asked: {parts}; ONNX Runtime Web {weights['runtime_bytes'] / 1e6:.1f} MB; "
            f"{weights['total_bytes'] / 1e6:.1f} MB in all"]
