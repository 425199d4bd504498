"""How the book's figures are sized, lettered and put on a page.

Every figure of :mod:`audiomnist_core.plots` is made by :func:`subplots` or :func:`figure` (a
:class:`BookFigure`), at most :data:`WIDTH_IN` wide (:data:`COLUMN_IN`, the book's content column,
less its margins), with no text smaller than :data:`MIN_FONT_PT`. Displayed in a notebook (``display(fig)``, or the inline backend at the end
of a cell), a :class:`BookFigure` is a PNG of :data:`DPI` pixels per inch, shown at its physical
size (:data:`CSS_PX_PER_IN` CSS pixels per inch, so twice as many image pixels as CSS pixels:
sharp on hi-dpi screens), whose text chunks :data:`WIDTH_KEY`, :data:`HEIGHT_KEY` and
:data:`FONT_KEY` hold its size and smallest text: the browser tests read them to check how large
that text is on the page (``min_font_pt / 72 * shown_width_px / width_in``; 8 pt at physical size
is 10.7 px).
"""
from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Text

COLUMN_IN = 7.0  # the widest figure: 672 CSS px, inside the content column at a 1280 px viewport
CSS_PX_PER_IN = 96  # CSS pixels per inch
DPI = 200  # PNG pixels per inch, a little over twice CSS_PX_PER_IN
COLOURS = 256  # a figure's PNG is a palette image of this many colours
MIN_FONT_PT = 8.0  # the smallest text: 8 pt at physical size is 10.7 CSS px
PAD_IN = 0.05  # white margin around the drawn content
WIDTH_IN = COLUMN_IN - 2 * PAD_IN  # a full-width figure's figsize width
CAPTION_PT = 9.0  # a figure's caption (its suptitle)
GLYPH_EM = 0.6  # the width of an average glyph of matplotlib's DejaVu Sans, in its font size
WIDTH_KEY, HEIGHT_KEY, FONT_KEY = "audiomnist:width_in", "audiomnist:height_in", "audiomnist:min_font_pt"


@dataclass(frozen=True)
class Rendered:
    """A figure as a PNG: ``png`` its bytes, ``width_in`` x ``height_in`` its size (inches,
    after cropping to what is drawn) and ``min_font_pt`` its smallest visible text (points)."""

    png: bytes
    width_in: float
    height_in: float
    min_font_pt: float

    @property
    def css_width(self) -> int:
        """Width (CSS px) at physical size."""
        return round(self.width_in * CSS_PX_PER_IN)


class BookFigure(Figure):
    """A matplotlib figure that a notebook shows as :func:`render` does: a hi-dpi PNG at its
    physical size, its size and smallest font in the PNG's metadata."""

    def _ipython_display_(self) -> None:
        from IPython.display import Image, display

        shown = render(self)
        display(Image(data=shown.png, format="png", width=shown.css_width))


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """``plt.subplots`` making a :class:`BookFigure` (``layout="constrained"`` unless given)."""
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, FigureClass=BookFigure, **kwargs)


def figure(**kwargs) -> BookFigure:
    """``plt.figure`` making a :class:`BookFigure` (``layout="constrained"`` unless given)."""
    kwargs.setdefault("layout", "constrained")
    return plt.figure(FigureClass=BookFigure, **kwargs)


def grid(n: int, columns: int = 2) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels, at most ``columns`` a row: 1 x 1, 1 x 2, 2 x 2, 3 x 2..."""
    n = max(n, 1)
    cols = min(n, columns)
    return -(-n // cols), cols


def caption(fig: Figure, text: str) -> None:
    """``text`` as the figure's suptitle, wrapped to the figure's width (nothing for "")."""
    if text:
        fig.suptitle(wrap(text, fig.get_figwidth() - 0.1), fontsize=CAPTION_PT)


def wrap(text: str, width_in: float, fontsize: float = CAPTION_PT) -> str:
    """``text`` wrapped to lines of about ``width_in`` inches at ``fontsize`` points."""
    return textwrap.fill(text, max(12, int(width_in * 72 / (GLYPH_EM * fontsize))))


def smallest_font_pt(fig: Figure) -> float:
    """The smallest size (points) of the figure's visible, non-empty texts, as last drawn
    (texts of hidden axes left out); ``inf`` for a figure without text."""
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())]
    return min(sizes, default=float("inf"))


def render(fig: Figure, dpi: int = DPI) -> Rendered:
    """The figure as a PNG cropped to what is drawn (plus :data:`PAD_IN`), at ``dpi``, on
    white, in :data:`COLOURS` colours (a quarter of the bytes of full colour, and no visible
    difference in these figures), with its size and smallest font size in the PNG's text chunks."""
    from PIL import Image, PngImagePlugin

    fig.draw_without_rendering()  # lays the figure out and makes its tick labels
    box = fig.get_tightbbox().padded(PAD_IN)
    font = smallest_font_pt(fig)
    drawn = io.BytesIO()
    fig.savefig(drawn, format="png", dpi=dpi, bbox_inches=box, facecolor="white")
    info = PngImagePlugin.PngInfo()
    for key, value in {WIDTH_KEY: f"{box.width:.3f}", HEIGHT_KEY: f"{box.height:.3f}", FONT_KEY: f"{font:g}"}.items():
        info.add_text(key, value)
    with Image.open(drawn) as image:
        palette = image.convert("RGB").quantize(COLOURS, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    palette.save(out, format="png", pnginfo=info, dpi=(dpi, dpi))
    return Rendered(out.getvalue(), box.width, box.height, font)


def read_metadata(png: bytes) -> dict[str, float]:
    """``{"width_in", "height_in", "min_font_pt", "dpi"}`` of a PNG written by :func:`render`
    (missing keys are left out)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        chunks = dict(getattr(image, "text", {}))
        dpi = image.info.get("dpi")
    keys = {WIDTH_KEY: "width_in", HEIGHT_KEY: "height_in", FONT_KEY: "min_font_pt"}
    out = {name: float(chunks[key]) for key, name in keys.items() if key in chunks}
    if dpi:
        out["dpi"] = float(dpi[0])
    return out
