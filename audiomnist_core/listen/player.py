"""The listening control of the published page: a table of players, and a static player whose
manipulation, example and level the reader picks (self-contained HTML and the inline script
of ``player.js``; no kernel, no widget manager)."""
from __future__ import annotations

import hashlib
import html
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..errors import AudiomnistError
from .sound import wav_data_uri


@dataclass
class Clip:
    """One player of a grid: an int16-scale 8 kHz waveform and the text under it."""

    wave: torch.Tensor
    caption: str = ""


def player_grid(clips: Sequence[Sequence[Clip]], row_labels: Sequence[str], column_labels: Sequence[str], title: str = ""):
    """A static HTML table of ``<audio>`` players, rows x columns, that plays without a kernel.

    Returns an ``IPython.display.HTML``; its ``.data`` is the HTML text.
    """
    from IPython.display import HTML

    if len(clips) != len(row_labels) or any(len(row) != len(column_labels) for row in clips):
        raise AudiomnistError(f"player grid: {len(row_labels)} row labels and {len(column_labels)} column labels do not match the clips")
    esc = html.escape
    head = "".join(f"<th style='padding:4px'>{esc(c)}</th>" for c in column_labels)
    rows = []
    for label, row in zip(row_labels, clips):
        cells = "".join(
            f"<td style='padding:4px;text-align:center'><audio controls preload='none' style='width:180px' "
            f"src='{wav_data_uri(c.wave)}'></audio><br><small>{esc(c.caption)}</small></td>"
            for c in row
        )
        rows.append(f"<tr><th style='padding:4px;text-align:left'>{esc(label)}</th>{cells}</tr>")
    caption = f"<caption style='caption-side:bottom;text-align:left'>{esc(title)}</caption>" if title else ""
    return HTML(f"<table class='audiomnist-players'>{caption}<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


@dataclass
class Example:
    """One example of a :class:`Choice`: its label, a clip per level of the choice, and the
    clip before the manipulation (the recording as the model gets it; None: not shown)."""

    label: str
    clips: Sequence[Clip]
    before: Clip | None = None


@dataclass
class Choice:
    """One manipulation of a :func:`static_player`: its label, the names of its levels (the
    slider's stops, in order), its examples and the level shown first."""

    label: str
    levels: Sequence[str]
    examples: Sequence[Example]
    start: int = 0


# The player's behaviour; %(id)s is the id of its root element. ES5, no libraries: it must run
# on the static page as it is, in Jupyter and in Colab. A clip that was playing keeps playing
# when the reader changes a control (a new source, from the start).
PLAYER_SCRIPT = Path(__file__).with_name("player.js").read_text()


_PLAYER_COUNT = itertools.count()


def _player_payload(choices: Sequence[Choice]) -> dict:
    """The player's data: each distinct clip's WAV data URI once (``sources``), and per choice
    its levels and per example ``[source index, caption]`` of each level and of ``before``."""
    sources: list[str] = []
    index: dict[str, int] = {}

    def ref(clip: Clip | None):
        if clip is None:
            return None
        uri = wav_data_uri(clip.wave)
        if uri not in index:
            index[uri] = len(sources)
            sources.append(uri)
        return [index[uri], clip.caption]

    return {"sources": sources, "choices": [
        {"label": c.label, "levels": list(c.levels), "start": c.start,
         "examples": [{"label": e.label, "before": ref(e.before), "clips": [ref(x) for x in e.clips]} for e in c.examples]}
        for c in choices]}


def _check_choices(choices: Sequence[Choice]) -> None:
    if not choices:
        raise AudiomnistError("static player: no manipulation to offer")
    for c in choices:
        if not c.levels or not c.examples:
            raise AudiomnistError(f"static player: {c.label!r} needs at least one level and one example")
        if not 0 <= c.start < len(c.levels):
            raise AudiomnistError(f"static player: {c.label!r} starts at level {c.start} of {len(c.levels)}")
        for e in c.examples:
            if len(e.clips) != len(c.levels):
                raise AudiomnistError(f"static player: {c.label!r}, {e.label!r} has {len(e.clips)} clips "
                                      f"for {len(c.levels)} levels")


def static_player(choices: Sequence[Choice], title: str = "", *, before_label: str = "before",
                  after_label: str = "after"):
    """A listening control that works on a static page, with no kernel: the reader picks a
    manipulation, an example and a level (a slider), hears the result and reads the model's
    prediction on it, beside the recording before the manipulation.

    Returns an ``IPython.display.HTML`` (``.data`` is the HTML): a ``<select>`` of the
    ``choices``, a ``<select>`` of the chosen one's examples, a range slider over its levels,
    two ``<audio>`` players with their captions, the clips as 8 kHz 16-bit WAV data URIs (each
    distinct clip once) and a few lines of inline JavaScript that swap the players' ``src`` and
    the captions. Without JavaScript the first manipulation's first example still plays.

    Why this and not ipywidgets with embedded state and ``jslink``: the examples offered
    depend on the manipulation chosen, which client-side links between widgets cannot express
    (they copy one value to another, they do not change options), so every (manipulation,
    example, level) would need its own ``Audio`` widget in nested ``Stack`` s, each a widget
    model in the page's state, drawn by the widget manager's JavaScript. A plain ``<audio>``
    element with swapped sources needs no manager, weighs only its clips, behaves the same in
    Jupyter, Colab and the book, and is testable as text. Element roles are marked
    ``data-role`` (``choice``, ``example``, ``level``, ``level-text``, ``before``, ``after``,
    ``before-text``, ``after-text``) for tests and styling.
    """
    from IPython.display import HTML

    _check_choices(choices)
    payload = _player_payload(choices)
    blob = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("<", "\\u003c")
    # Content and call count: the same player shown twice on a page is two players.
    pid = f"audiomnist-player-{hashlib.sha256(blob.encode()).hexdigest()[:10]}-{next(_PLAYER_COUNT)}"
    esc = html.escape
    first = payload["choices"][0]
    ex = first["examples"][0]
    clip = ex["clips"][first["start"]]
    befores = [e["before"] for c in payload["choices"] for e in c["examples"] if e["before"] is not None]
    src = lambda k: payload["sources"][k]  # noqa: E731
    options = "".join(f"<option value='{i}'>{esc(c['label'])}</option>" for i, c in enumerate(payload["choices"]))
    examples = "".join(f"<option value='{i}'>{esc(e['label'])}</option>" for i, e in enumerate(first["examples"]))
    row = "display:flex;align-items:center;gap:8px;margin:4px 0"
    player = "<audio controls preload='none' data-role='{role}' style='width:260px' src='{src}'></audio>"
    before_row = ""
    if befores:
        shown = ex["before"] or befores[0]
        hidden = "" if ex["before"] else "display:none;"
        before_row = (f"<div data-role='before-row' style='{hidden}{row}'><span style='width:4em'>{esc(before_label)}</span>"
                      + player.format(role="before", src=src(shown[0]))
                      + f"<small data-role='before-text'>{esc(shown[1])}</small></div>")
    levels = len(first["levels"])
    return HTML(
        f"<div class='audiomnist-player' id='{pid}' style='border:1px solid #ccc;border-radius:4px;padding:8px;margin:8px 0'>"
        + (f"<div style='font-weight:bold;margin-bottom:4px'>{esc(title)}</div>" if title else "")
        + f"<div style='{row};flex-wrap:wrap'>"
        f"<label>manipulation <select data-role='choice'>{options}</select></label>"
        f"<label>example <select data-role='example'>{examples}</select></label>"
        f"<label>level <input type='range' data-role='level' min='0' max='{levels - 1}' step='1' value='{first['start']}'"
        + (" disabled" if levels < 2 else "")
        + f"> <span data-role='level-text'>{esc(first['levels'][first['start']])}</span></label></div>"
        + before_row
        + f"<div style='{row}'><span style='width:4em'>{esc(after_label)}</span>"
        + player.format(role="after", src=src(clip[0]))
        + f"<small data-role='after-text'>{esc(clip[1])}</small></div>"
        f"<script type='application/json' data-role='payload'>{blob}</script>"
        f"<script>{PLAYER_SCRIPT % {'id': pid}}</script></div>"
    )

