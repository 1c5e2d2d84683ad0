"""Explorations that respond on the static website, without a kernel.

A chapter's exploration is a drawing function ``draw(fig, **params)`` that fills
an empty figure for one setting of a few parameters. It is shown twice:

* :func:`scrubber` draws it once for every point of a small grid of the
  parameters, when the chapter is executed, and returns a :class:`Scrubber`,
  which a notebook shows as HTML: the figures embedded as PNG images, one slider
  per parameter, and a few lines of JavaScript that swap the image when a slider
  moves. It needs no kernel, no server and no network, so it responds on the
  static website, where ipywidgets' sliders cannot (they have no Python behind
  them).
* :func:`live` wraps the same function for ``ipywidgets.interact``: the live
  version, for any value of the parameters, in a running notebook (Binder or a
  downloaded chapter). The website removes its output (cell tag
  ``remove-output``), so that no slider there is dead.

Every frame passes :func:`statmech_dl.plotting.labelled`: axis labels, and text
legible at the website's column width.
"""

import base64
import hashlib
import html
import inspect
import io
import itertools
import json
import numbers
import re

__all__ = ["MAX_FRAMES", "MAX_BYTES", "Scrubber", "scrubber", "live"]

#: Most frames one scrubber may hold (the product of its grid's sizes).
MAX_FRAMES = 64
#: Most bytes of PNG one scrubber may embed in a page: keeps the page weight sensible.
MAX_BYTES = 4_000_000
#: Width in pixels at which frames are stored: 1.25 times the website's text column, so
#: that they stay sharp on high-density screens at a moderate size.
FRAME_PX = 845

_SCRIPT = """(function () {
  var root = (document.currentScript && document.currentScript.parentElement) ||
             document.getElementById("%(uid)s");
  if (!root || root.getAttribute("data-ready")) { return; }
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.querySelector(".statmech-scrubber-data").textContent);
  var image = root.querySelector(".statmech-scrubber-frame");
  var sliders = root.querySelectorAll("input[type=range]");
  function show() {
    var index = 0, setting = [];
    for (var k = 0; k < sliders.length; k++) {
      var i = parseInt(sliders[k].value, 10);
      index = index * data.shape[k] + i;
      sliders[k].parentElement.querySelector("output").textContent = data.labels[k][i];
      setting.push(data.names[k] + " " + data.labels[k][i]);
    }
    image.src = "data:image/png;base64," + data.frames[index];
    image.alt = data.alt + " Shown: " + setting.join(", ") + ".";
    root.setAttribute("data-frame", String(index));
  }
  for (var k = 0; k < sliders.length; k++) { sliders[k].addEventListener("input", show); }
})();"""


def _format(value, spec):
    if callable(spec):
        return str(spec(value))
    if spec is not None:
        return spec.format(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


class Scrubber:
    """A figure precomputed over a grid of parameters, shown with one slider per parameter.

    Made by :func:`scrubber`. In a notebook or on the website it displays as HTML
    (its ``_repr_html_``); where HTML is not shown (the book's PDF) as its first
    frame (``_repr_png_``); elsewhere as one line of text.

    Attributes
    ----------
    names : tuple of str
        The parameters, in the order of the sliders.
    values : tuple of tuple
        The grid: the values of each parameter.
    frames : tuple of bytes
        One PNG image per grid point, the last parameter varying fastest.
    start : tuple of int
        The index of each parameter's value shown first.
    """

    def __init__(self, names, values, frames, start, labels, texts, width_px, alt):
        self.names, self.values, self.frames, self.start = names, values, frames, start
        self.labels, self.texts, self.width_px, self.alt = labels, texts, width_px, alt

    @property
    def shape(self):
        """Number of values of each parameter."""
        return tuple(len(v) for v in self.values)

    @property
    def nbytes(self):
        """Bytes of PNG embedded (base64 adds a third to it in the page)."""
        return sum(len(f) for f in self.frames)

    def index(self, **params):
        """Position in ``frames`` of the frame drawn at ``params`` (a point of the grid)."""
        if set(params) != set(self.names):
            raise ValueError(f"give a value for each of {list(self.names)}, got {sorted(params)}")
        flat = 0
        for name, values in zip(self.names, self.values):
            if params[name] not in values:
                raise ValueError(f"{name} must be one of the grid's values {list(values)}, got {params[name]!r}")
            flat = flat * len(values) + values.index(params[name])
        return flat

    def frame(self, **params):
        """The PNG image drawn at ``params``."""
        return self.frames[self.index(**params)]

    def describe(self, index):
        """The alt text of frame ``index``: what the figure shows, then the setting drawn."""
        point = []
        for texts in reversed(self.texts):
            index, i = divmod(index, len(texts))
            point.append(texts[i])
        setting = ", ".join(f"{label} {text}" for label, text in zip(self.labels, reversed(point)))
        return f"{self.alt} Shown: {setting}."

    def _repr_png_(self):
        # The frame shown first, for renderers without HTML: the book's PDF (LaTeX
        # prefers a PNG), a notebook viewer that strips scripts.
        start = sum(i * int(_prod(self.shape[k + 1:])) for k, i in enumerate(self.start))
        return self.frames[start]

    def __repr__(self):
        grid = "; ".join(f"{label} in {', '.join(t)}" for label, t in zip(self.labels, self.texts))
        return f"Exploration: {len(self.frames)} precomputed figures ({grid})"

    def _repr_html_(self):
        uid = "statmech-scrubber-" + hashlib.sha256(b"".join(self.frames)).hexdigest()[:12]
        encoded = [base64.b64encode(f).decode("ascii") for f in self.frames]
        start = sum(i * int(_prod(self.shape[k + 1:])) for k, i in enumerate(self.start))
        data = json.dumps({"shape": list(self.shape), "labels": [list(t) for t in self.texts],
                           "names": list(self.labels), "alt": self.alt, "frames": encoded},
                          separators=(",", ":")).replace("</", "<\\/")
        controls = "".join(
            f'<label style="display:flex;align-items:center;gap:0.5em;margin:0.2em 0">'
            f'<span style="min-width:7em">{html.escape(label)}</span>'
            f'<input type="range" min="0" max="{len(texts) - 1}" step="1" value="{i}" '
            f'aria-label="{html.escape(label)}" style="flex:1;max-width:22em">'
            f'<output style="min-width:5em;font-variant-numeric:tabular-nums">{html.escape(texts[i])}</output>'
            f"</label>"
            for label, texts, i in zip(self.labels, self.texts, self.start))
        sliders = "the slider" if len(self.names) == 1 else "the sliders"
        note = (f"Precomputed when the chapter was executed: {len(self.frames)} figures. Move {sliders}; "
                f"this works on the website without Python. In a running notebook, the live version "
                f"below takes any value.")
        return (f'<div class="statmech-scrubber" id="{uid}" data-frame="{start}">'
                f'<p class="statmech-scrubber-note" style="font-size:0.85em;margin:0 0 0.3em">{note}</p>'
                f'<div class="statmech-scrubber-controls">{controls}</div>'
                f'<img class="statmech-scrubber-frame" src="data:image/png;base64,{encoded[start]}" '
                f'alt="{html.escape(self.describe(start))}" width="{self.width_px}" '
                f'style="max-width:100%;height:auto">'
                f'<script type="application/json" class="statmech-scrubber-data">{data}</script>'
                f"<script>{_SCRIPT % {'uid': uid}}</script></div>")


def _prod(xs):
    out = 1
    for x in xs:
        out *= x
    return out


def _png(fig):
    """The figure as a PNG of 256 colours: a third of the size of a full-colour one.

    Line plots and colour maps survive the palette; no "Software" text is
    written, so the same figure always gives the same bytes.
    """
    from PIL import Image

    fig.canvas.draw()
    image = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba())
    palette = image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    return buffer.getvalue()


def _check_draw(draw, names):
    if not callable(draw):
        raise ValueError(f"draw must be a function draw(fig, **params), got {draw!r}")
    try:
        inspect.signature(draw).bind(None, **{n: None for n in names})
    except TypeError as err:
        raise ValueError(f"draw cannot take the grid's parameters {list(names)}: {err}") from None
    except ValueError:        # a builtin without a signature: let the first call tell
        pass


def _check_figsize(figsize):
    try:
        w, h = (float(x) for x in figsize)
    except (TypeError, ValueError):
        raise ValueError(f"figsize must be (width, height) in inches, got {figsize!r}") from None
    if not (0 < w <= 20 and 0 < h <= 20):
        raise ValueError(f"figsize must be (width, height) with each in (0, 20] inches, got {figsize!r}")
    return w, h


def scrubber(draw, grid, *, figsize, alt, labels=None, formats=None, start=None):
    """Draw ``draw(fig, **params)`` at every point of ``grid``; return a :class:`Scrubber`.

    Parameters
    ----------
    draw : callable
        ``draw(fig, **params)`` draws one setting on an empty figure (one figure,
        cleared with ``fig.clear()`` before each frame).
    grid : dict
        Parameter name -> sequence of at least two distinct values; one or two
        parameters (one slider each). The number of frames is the product of the
        lengths, at most :data:`MAX_FRAMES`.
    figsize : (float, float)
        Figure size in inches, as for ``matplotlib.pyplot.figure``.
    alt : str
        The image's text alternative, for readers who cannot see it: a sentence
        (at least four words) saying what the figure shows. The page adds the
        setting drawn ("Shown: depth 8, q* 0.1.") and updates it as the sliders move.
    labels : dict, optional
        Parameter name -> text beside its slider (default: the name).
    formats : dict, optional
        Parameter name -> format string (``"{:.2f}"``) or function giving the text
        of a value (default: ``{:g}`` for numbers, ``str`` otherwise).
    start : dict, optional
        Parameter name -> the value shown first (default: the first value).

    Returns
    -------
    Scrubber

    Raises
    ------
    ValueError
        For a grid that is empty, has more than two parameters, a parameter with
        fewer than two or repeated values, more than :data:`MAX_FRAMES` points, a
        ``start`` value off the grid, an ``alt`` that is not a sentence, frames
        above :data:`MAX_BYTES` in total, or a frame that fails :func:`statmech_dl.plotting.labelled`.
    """
    import matplotlib.pyplot as plt

    from . import plotting

    if not isinstance(grid, dict) or not 1 <= len(grid) <= 2:
        raise ValueError(f"grid must be a dict of one or two parameters, got {grid!r}")
    names = tuple(grid)
    values = []
    for name in names:
        vals = tuple(grid[name]) if not isinstance(grid[name], (str, bytes)) else ()
        if len(vals) < 2 or len(set(map(repr, vals))) != len(vals):
            raise ValueError(f"grid[{name!r}] must hold at least two distinct values, got {grid[name]!r}")
        values.append(vals)
    values = tuple(values)
    n_frames = _prod(len(v) for v in values)
    if n_frames > MAX_FRAMES:
        raise ValueError(f"the grid has {n_frames} points; at most MAX_FRAMES = {MAX_FRAMES} are embedded")
    _check_draw(draw, names)
    width, height = _check_figsize(figsize)
    if not isinstance(alt, str) or len(alt.split()) < 4 or re.search(r"\.(png|jpe?g|svg)\b|[\\/]\S*[\\/]", alt):
        raise ValueError(f"alt must be a sentence of at least four words saying what the figure shows, not a "
                         f"path or a name; got {alt!r}")
    alt = alt.strip()
    for option, given in (("labels", labels), ("formats", formats), ("start", start)):
        if given is not None and (not isinstance(given, dict) or not set(given) <= set(names)):
            raise ValueError(f"{option} must be a dict keyed by the grid's parameters {list(names)}, got {given!r}")
    labels = tuple((labels or {}).get(n, n) for n in names)
    texts = tuple(tuple(_format(v, (formats or {}).get(n)) for v in vals) for n, vals in zip(names, values))
    first = []
    for name, vals in zip(names, values):
        value = (start or {}).get(name, vals[0])
        if value not in vals:
            raise ValueError(f"start[{name!r}] must be one of the grid's values {list(vals)}, got {value!r}")
        first.append(vals.index(value))

    frames = []
    # One figure, cleared between frames: a new figure per frame pays for a new canvas and
    # renderer, and so an empty cache of text sizes (the frames are the same bytes either way).
    fig = plt.figure(figsize=(width, height), dpi=FRAME_PX / width)
    try:
        for point in itertools.product(*values):
            fig.clear()
            draw(fig, **dict(zip(names, point)))
            plotting.labelled(fig)
            frames.append(_png(fig))
            if sum(len(f) for f in frames) > MAX_BYTES:
                raise ValueError(f"the frames exceed MAX_BYTES = {MAX_BYTES} bytes after {len(frames)} of "
                                 f"{n_frames}: use fewer grid points or a simpler figure")
    finally:
        plt.close(fig)
    return Scrubber(names, values, tuple(frames), tuple(first), labels, texts, FRAME_PX, alt)


def live(draw, figsize):
    """``draw(fig, **params)`` as a function of the parameters alone, for ``ipywidgets.interact``.

    Each call draws on a new figure of size ``figsize``, checks it with
    :func:`statmech_dl.plotting.labelled` and shows it. The returned function has
    ``draw``'s signature without ``fig``, so that ``interact`` finds the parameters.
    """
    if not callable(draw):
        raise ValueError(f"draw must be a function draw(fig, **params), got {draw!r}")
    width, height = _check_figsize(figsize)

    def show(**params):
        import matplotlib.pyplot as plt

        from . import plotting

        fig = plt.figure(figsize=(width, height))
        draw(fig, **params)
        plotting.labelled(fig)
        plt.show()

    try:
        signature = inspect.signature(draw)
        show.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    except (TypeError, ValueError):
        pass
    show.__name__ = getattr(draw, "__name__", "explore")
    show.__doc__ = getattr(draw, "__doc__", None)
    return show
