"""The book's figure style.

Every chapter calls :func:`use_book_style` once. The style

* draws lines in the Okabe-Ito palette, which stays distinguishable under the
  common forms of colour blindness;
* puts figures on an opaque white background, so black text and axes stay
  legible when the website is read in its dark theme;
* sets font sizes that read well at the website's column width.

Axis labels cannot be set by a style: :func:`labelled` checks that a figure has
them, and that every piece of its text stays legible once the website scales
the figure down to the width of its text column; chapters call it on every
figure they draw.
"""

import matplotlib as mpl
import numpy as np

__all__ = ["PALETTE", "COLORS", "DIVERGING", "SEQUENTIAL", "COLUMN_PX", "MIN_TEXT_PX", "use_book_style",
           "labelled", "displayed_text_px", "heatmap"]

#: Width of the website's text column in a 1280 px window; wider figures are scaled down to it.
COLUMN_PX = 676
#: The smallest text, in screen pixels after that scaling, that :func:`labelled` accepts.
MIN_TEXT_PX = 9.0

#: Okabe & Ito (2008) colour-blind-safe palette, by name.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}

#: The order in which lines take colours.
COLORS = [PALETTE[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]

#: Diverging colour map for signed matrices (ColorBrewer RdBu is colour-blind safe).
DIVERGING = "RdBu_r"
#: Sequential, perceptually uniform colour map.
SEQUENTIAL = "viridis"

_STYLE = {
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "text.color": "black",
    "axes.labelcolor": "black",
    "axes.edgecolor": "black",
    "xtick.color": "black",
    "ytick.color": "black",
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "image.cmap": SEQUENTIAL,
    "figure.constrained_layout.use": True,
}


def use_book_style():
    """Apply the book's matplotlib style to the current session."""
    mpl.rcParams.update(_STYLE)


def displayed_text_px(fig):
    """Height in screen pixels of the smallest text of ``fig`` once shown at the column width.

    Every visible text (titles, axis and tick labels, legends, annotations) is
    counted. A figure wider than :data:`COLUMN_PX` is scaled down by the website,
    and its text with it.
    """
    import matplotlib.text

    scale = min(1.0, COLUMN_PX / (fig.get_figwidth() * fig.dpi))
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip() and t.get_figure() is fig]
    return min(sizes) * fig.dpi / 72 * scale if sizes else float("inf")


def labelled(fig):
    """Check that every plotting axes of ``fig`` has x and y labels and that its text is legible.

    Returns None, so that a cell ending in ``labelled(fig)`` shows the figure
    once (the inline backend displays it) rather than twice.

    A label on another axes that shares the axis (``sharey=True`` panels)
    counts, and so do item names as tick labels on an image (heatmaps). Colour
    bars are skipped. Legibility: the smallest text must be at least
    :data:`MIN_TEXT_PX` screen pixels high at the website's column width
    (:func:`displayed_text_px`), so a wide figure needs larger fonts.

    Raises
    ------
    ValueError
        Naming the axes that lacks a label, or the size of the smallest text.
    """
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.has_data() or ax.get_label() == "<colorbar>":
            continue
        for axis in ("x", "y"):
            # A label on any axes sharing this axis (sharey=True panels) counts.
            siblings = getattr(ax, f"get_shared_{axis}_axes")().get_siblings(ax)
            label = "".join(getattr(a, f"get_{axis}label")() for a in siblings)
            # Tick labels are asked for only when needed: matplotlib computes them anew on each call.
            if not label and not (ax.images and any(t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")())):
                title = ax.get_title() or f"axes {i}"
                raise ValueError(f"figure axes '{title}' has no {axis}-axis label")
    smallest = displayed_text_px(fig)
    if smallest < MIN_TEXT_PX:
        raise ValueError(f"figure text is {smallest:.1f} px high at the {COLUMN_PX} px column, below "
                         f"{MIN_TEXT_PX:g}: enlarge the fonts or narrow the figure "
                         f"(now {fig.get_figwidth():g} in)")


def heatmap(ax, M, row_labels=None, col_labels=None, vmax=None, cmap=DIVERGING, colorbar=True):
    """Draw a signed matrix with a symmetric colour scale centred on zero.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    M : array_like, shape (n, m)
    row_labels, col_labels : sequence of str, optional
        Tick labels; without them rows and columns are numbered.
    vmax : float, optional
        Colour-scale limit; defaults to ``max |M|``.
    cmap : str, optional
    colorbar : bool, optional

    Returns
    -------
    matplotlib.image.AxesImage
    """
    M = np.asarray(M, dtype=float)
    if M.ndim != 2:
        raise ValueError(f"M must be a 2-d array, got shape {M.shape}")
    if vmax is None:
        vmax = float(np.max(np.abs(M))) or 1.0
    im = ax.imshow(M, cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels)
    if col_labels is not None:
        ax.set_xticks(range(len(col_labels)), col_labels, rotation=90)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    return im
