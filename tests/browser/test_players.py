"""The static listening players (:func:`audiomnist_core.listen.static_player`) in a real browser.

A reader operates every control: each manipulation of the ``<select>``, another example, the
level slider moved by the keyboard. After each step the playing source and the shown caption
(the model's prediction) must be those the player's data give for that choice, must have
changed where the data differ, a clip that was playing keeps playing on its new source, and no
console error occurs. First on a standalone page (no book needed), then on every page of the
built book that has a player (chapters 04 and 05).
"""
from __future__ import annotations

import re

from pathlib import Path

import pytest
import torch

from audiomnist_core import listen
from audiomnist_core.book import built_html

pytestmark = pytest.mark.browser

# The state the page shows: which choice, example and level, and which source each player plays.
STATE = """(root) => {
  const data = JSON.parse(root.querySelector('script[data-role=payload]').textContent);
  const q = (r) => root.querySelector(`[data-role=${r}]`);
  const index = (a) => a ? data.sources.indexOf(a.getAttribute('src')) : null;
  return {choice: +q('choice').value, example: +q('example').value, level: +q('level').value,
          examples: Array.from(q('example').options).map((o) => o.text), levelText: q('level-text').textContent,
          after: index(q('after')), afterText: q('after-text').textContent,
          before: index(q('before')), beforeText: q('before-text') ? q('before-text').textContent : null,
          beforeShown: q('before-row') ? q('before-row').style.display !== 'none' : false,
          playing: !q('after').paused};
}"""
CHOICES = """(root) => JSON.parse(root.querySelector('script[data-role=payload]').textContent).choices"""


def _expected(choices: list[dict], c: int, e: int, level: int) -> dict:
    choice = choices[c]
    example = choice["examples"][e]
    clip = example["clips"][level]
    out = {"choice": c, "example": e, "level": level, "examples": [x["label"] for x in choice["examples"]],
           "levelText": choice["levels"][level], "after": clip[0], "afterText": clip[1]}
    if example["before"] is not None:
        out.update(before=example["before"][0], beforeText=example["before"][1], beforeShown=True)
    return out


def _check(root, choices, c, e, level, previous: dict | None, where: str) -> dict:
    state = root.evaluate(STATE)
    want = _expected(choices, c, e, level)
    got = {k: state[k] for k in want}
    assert got == want, f"{where}: the player shows {got}, its data say {want}"
    if previous is not None and want["after"] != previous["after"]:
        assert state["after"] != previous["after"], f"{where}: the source did not change"
    return state


def operate(page, root, where: str) -> list[str]:
    """Operate every control of the player at ``root``; return what changed (for the caller's
    checks); assertion errors name ``where``."""
    choices = root.evaluate(CHOICES)
    c, e, level = 0, 0, choices[0]["start"]
    state = _check(root, choices, c, e, level, None, f"{where}, as loaded")
    texts = {state["afterText"]}
    for target in [*range(1, len(choices)), 0]:  # every manipulation, then back to the first
        label = choices[c]["examples"][e]["label"]
        root.locator("[data-role=choice]").select_option(index=target)
        names = [x["label"] for x in choices[target]["examples"]]
        c, e, level = target, names.index(label) if label in names else 0, choices[target]["start"]
        state = _check(root, choices, c, e, level, state, f"{where}, manipulation {choices[c]['label']!r}")
        texts.add(state["afterText"])
        if len(choices[c]["levels"]) > 1:  # the slider, by the keyboard
            slider = root.locator("[data-role=level]")
            slider.focus()
            key, step = ("ArrowRight", 1) if level + 1 < len(choices[c]["levels"]) else ("ArrowLeft", -1)
            page.keyboard.press(key)
            level += step
            state = _check(root, choices, c, e, level, state, f"{where}, {choices[c]['label']!r} level {level}")
            texts.add(state["afterText"])
        if len(choices[c]["examples"]) > 1:
            e = 1 if e == 0 else 0
            root.locator("[data-role=example]").select_option(index=e)
            state = _check(root, choices, c, e, level, state, f"{where}, {choices[c]['label']!r} example {e}")
            texts.add(state["afterText"])
    assert len(texts) > 1, f"{where}: the shown prediction never changed"
    return sorted(texts)


def keeps_playing(page, root, where: str) -> None:
    """A clip that plays keeps playing when the level (or else the manipulation) changes."""
    after = root.locator("[data-role=after]")
    after.evaluate("(a) => { a.muted = true; return a.play(); }")
    page.wait_for_function("(a) => !a.paused && a.currentTime > 0", arg=after.element_handle(), timeout=15_000)
    before = after.get_attribute("src")
    choices = root.evaluate(CHOICES)
    state = root.evaluate(STATE)
    if len(choices[state["choice"]]["levels"]) > 1:
        root.locator("[data-role=level]").focus()
        page.keyboard.press("ArrowRight" if state["level"] + 1 < len(choices[state["choice"]]["levels"]) else "ArrowLeft")
    else:
        root.locator("[data-role=choice]").select_option(index=(state["choice"] + 1) % len(choices))
    assert after.get_attribute("src") != before, f"{where}: the source did not change"
    page.wait_for_function("(a) => !a.paused", arg=after.element_handle(), timeout=15_000)
    after.evaluate("(a) => a.pause()")


def _listen_to(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def _tone(f0: float, n: int = 4000) -> torch.Tensor:
    t = torch.arange(n) / listen.RATE
    return 6000 * torch.sin(2 * torch.pi * f0 * t)


def test_a_standalone_player(tmp_path, browser_context):
    clip = lambda f0, text: listen.Clip(_tone(f0), text)  # noqa: E731
    choices = [
        listen.Choice("scale", ["x0.5", "x1", "x2"], [
            listen.Example("low", [clip(100, "x0.5: predicted male"), clip(200, "x1: predicted male"),
                                   clip(400, "x2: predicted female")], clip(200, "predicted male (true male)")),
            listen.Example("high", [clip(150, "x0.5: predicted male"), clip(300, "x1: predicted female"),
                                    clip(600, "x2: predicted female")], clip(300, "predicted female (true female)")),
        ], start=1),
        listen.Choice("mask", ["–"], [listen.Example("high", [clip(330, "mask: predicted female")]),
                                      listen.Example("third", [clip(500, "mask: predicted male")], clip(250, "plain"))]),
    ]
    path = tmp_path / "player.html"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>"
                    f"{listen.static_player(choices, 'a test').data}{listen.static_player(choices[1:]).data}</body></html>")
    page = browser_context.new_page()
    problems = _listen_to(page)
    try:
        page.goto(path.as_uri(), wait_until="load")
        players = page.locator(".audiomnist-player")
        assert players.count() == 2
        texts = operate(page, players.nth(0), "standalone player")
        assert "x2: predicted female" in texts and "mask: predicted female" in texts
        operate(page, players.nth(1), "second player")  # two players on one page do not interfere
        root = players.nth(0)
        root.locator("[data-role=choice]").select_option(index=1)
        assert not root.evaluate(STATE)["beforeShown"]  # "high" has nothing before it under "mask"
        root.locator("[data-role=choice]").select_option(index=0)
        keeps_playing(page, root, "standalone player")
        assert not problems, "; ".join(problems)
    finally:
        page.close()


def _pages_with_players() -> list[str]:
    html = built_html()
    if not (html / "index.html").is_file():
        return []
    player = re.compile(r"""class=["']audiomnist-player["']""")  # not the static grids' audiomnist-players
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not p.relative_to(html).as_posix().startswith("_") and player.search(p.read_text()))


@pytest.mark.parametrize("page_path", _pages_with_players())
def test_the_players_of_a_page(page_path, html, server, browser_context):
    page = browser_context.new_page()
    problems = _listen_to(page)
    try:
        page.goto(f"{server}/{page_path}", wait_until="load", timeout=60_000)
        players = page.locator(".audiomnist-player")
        for i in range(players.count()):
            root = players.nth(i)
            root.scroll_into_view_if_needed()
            operate(page, root, f"{page_path}, player {i}")
        keeps_playing(page, players.nth(0), f"{page_path}, player 0")
        assert not problems, f"{page_path}: " + "; ".join(problems[:10])
    finally:
        page.close()


def test_the_listening_chapters_have_players(html):
    """Chapters 04 and 05, where they are built, each offer a player on the static page."""
    built = {Path(p).name for p in _pages_with_players()}
    for chapter in ("04_manipulations.html", "05_beyond.html"):
        if (html / "book" / chapter).is_file():
            assert chapter in built, f"{chapter}: no static player on the page"
