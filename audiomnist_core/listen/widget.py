"""The live listening control for Jupyter and Colab (ipywidgets); the published page uses the
static players instead."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from .. import perturb
from ..errors import AudiomnistError
from .clips import Subject, _describe, original, scaled, scaling_factor, scaling_levels, zeroed
from .sound import audio


@dataclass
class _Choice:
    label: str
    subject: str
    strategy: str | None = None  # None: frequency scaling
    levels: list = field(default_factory=list)


def audio_widget(subjects_by_name: dict[str, Subject], fractions: Sequence[float], male_scale: float = 1.5, female_scale: float = 0.66, seed: int = 0):
    """An ipywidgets control: pick speaker, digit, manipulation and level; it plays the
    manipulated recording and shows the model's prediction before and after.

    Manipulations: frequency scaling (AlexNet gender; levels are factors, the paper's for the
    speaker's gender marked) and zeroing by each strategy (AudioNet digits and gender; levels
    are fractions). Speakers are those of the chosen model's test fold.
    """
    import ipywidgets as w
    from IPython.display import display

    choices = []
    if "alexnet/gender" in subjects_by_name:
        factors = scaling_levels(male_scale, female_scale)
        choices.append(_Choice("frequency scaling (AlexNet, gender)", "alexnet/gender", None, factors))
    for name in ("audionet/digits", "audionet/gender"):
        if name in subjects_by_name:
            for s in perturb.STRATEGIES:
                choices.append(_Choice(f"zero by {s} (AudioNet, {name.split('/')[1]})", name, s, [f for f in fractions if f > 0]))
    if not choices:
        raise AudiomnistError("no model to listen to: the profile trains neither alexnet/gender nor audionet")
    manipulation = w.Dropdown(options=[(c.label, i) for i, c in enumerate(choices)], description="manipulation")
    speaker = w.Dropdown(description="speaker")
    digit = w.Dropdown(options=list(range(10)), description="digit")
    level = w.SelectionSlider(options=[1.0], description="level")
    out = w.Output()
    refreshing = [False]  # options being replaced: one render afterwards, not one per change

    def refresh_options():
        c = choices[manipulation.value]
        subject = subjects_by_name[c.subject]
        refreshing[0] = True
        try:
            kept = speaker.value
            speaker.options = sorted({int(s) for s in subject.test.speaker})
            speaker.value = kept if kept in speaker.options else speaker.options[0]
            level.options = [(f"x{v:g}" if c.strategy is None else f"{100 * v:g} %", v) for v in c.levels]
            if c.strategy is None:  # the paper's factor for the speaker's gender
                first = int((subject.test.speaker == speaker.value).nonzero()[0, 0])
                level.value = scaling_factor(subject, first, male_scale, female_scale)
            else:
                level.value = min(c.levels, key=lambda f: abs(f - 0.01))
        finally:
            refreshing[0] = False

    def render(*_):
        if refreshing[0]:
            return
        c = choices[manipulation.value]
        subject = subjects_by_name[c.subject]
        out.clear_output(wait=True)
        with out:
            try:
                i = subject.find(speaker.value, digit.value)
            except AudiomnistError as e:
                print(e)
                return
            if c.strategy is None:
                paper = scaling_factor(subject, i, male_scale, female_scale)
                clip = scaled(subject, i, level.value)
                note = f" (the paper's factor for this speaker: x{paper:g})"
            else:
                clip = zeroed(subject, i, level.value, c.strategy, torch.Generator().manual_seed(seed))
                note = ""
            before = original(subject, i)
            print(f"{subject.name}, {_describe(subject, i)}")
            print(f"before: {before.caption}")
            display(audio(before.wave))
            print(f"after:  {clip.caption}{note}")
            display(audio(clip.wave))

    manipulation.observe(lambda ch: (refresh_options(), render()), names="value")
    for control in (speaker, digit, level):
        control.observe(render, names="value")
    refresh_options()
    render()
    return w.VBox([w.HBox([manipulation, level]), w.HBox([speaker, digit]), out])
