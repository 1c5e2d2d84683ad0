"""Kernel-free explorations: frames over a grid, the HTML that scrubs them, the live wrapper."""

import base64
import inspect
import io
import json
import re

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from statmech_dl import exploration  # noqa: E402

CALLS = []


def draw(fig, slope=1.0, phi="tanh"):
    CALLS.append((slope, phi))
    ax = fig.subplots()
    ax.plot([0, 1], [0, slope], color="C0" if phi == "tanh" else "C1")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"{phi}, slope {slope:g}")


GRID = {"phi": ["tanh", "relu"], "slope": [0.5, 1.0, 2.0]}
ALT = "A straight line whose slope and colour follow the sliders."


@pytest.fixture(scope="module")
def scrub():
    CALLS.clear()
    return exploration.scrubber(draw, GRID, figsize=(4, 3), alt=ALT, labels={"phi": "φ"}, start={"slope": 1.0})


def test_one_frame_per_grid_point_in_row_major_order(scrub):
    assert CALLS == [(s, p) for p in GRID["phi"] for s in GRID["slope"]]
    assert scrub.shape == (2, 3) and len(scrub.frames) == 6
    assert scrub.index(phi="relu", slope=0.5) == 3
    assert scrub.frame(phi="tanh", slope=2.0) == scrub.frames[2]
    assert len(set(scrub.frames)) == 6, "different settings give different pictures"
    image = Image.open(io.BytesIO(scrub.frames[0]))
    assert image.format == "PNG" and image.size[0] == exploration.FRAME_PX


def test_frames_are_reproducible():
    again = exploration.scrubber(draw, GRID, figsize=(4, 3), alt=ALT, labels={"phi": "φ"}, start={"slope": 1.0})
    first = exploration.scrubber(draw, GRID, figsize=(4, 3), alt=ALT, labels={"phi": "φ"}, start={"slope": 1.0})
    assert again.frames == first.frames and again._repr_html_() == first._repr_html_()


def test_each_frame_is_what_a_new_figure_would_show():
    """The scrubber clears one figure between frames: nothing of one frame (a colour bar, a
    figure legend or title, a second panel) may leak into the next."""
    import matplotlib.pyplot as plt

    def busy(fig, panels=1, shade=0.0):
        axes = fig.subplots(1, panels, squeeze=False)[0]
        for k, ax in enumerate(axes):
            im = ax.imshow([[shade, k], [1.0, 0.5]], vmin=0, vmax=2)
            ax.set_xlabel("column")
            ax.set_ylabel("row")
        fig.colorbar(im, ax=list(axes))
        fig.suptitle(f"{panels} panel(s), shade {shade:g}")
        fig.legend(handles=[plt.Line2D([], [], label=f"shade {shade:g}")], loc="outside lower center")

    grid = {"panels": [2, 1], "shade": [0.0, 1.5]}
    scrub = exploration.scrubber(busy, grid, figsize=(5, 3), alt="Panels of coloured squares with a colour bar.")
    for k, (panels, shade) in enumerate((p, s) for p in grid["panels"] for s in grid["shade"]):
        fig = plt.figure(figsize=(5, 3), dpi=exploration.FRAME_PX / 5)
        busy(fig, panels, shade)
        assert scrub.frames[k] == exploration._png(fig), (panels, shade)
        plt.close(fig)


def test_html_embeds_every_frame_with_a_slider_per_parameter_and_no_network(scrub):
    page = scrub._repr_html_()
    data = json.loads(re.search(r'<script type="application/json" class="statmech-scrubber-data">(.*?)</script>',
                                page, flags=re.S).group(1))
    assert data["shape"] == [2, 3]
    assert [base64.b64decode(f) for f in data["frames"]] == list(scrub.frames)
    assert data["labels"] == [["tanh", "relu"], ["0.5", "1", "2"]]
    sliders = re.findall(r'<input type="range" min="0" max="(\d+)" step="1" value="(\d+)"', page)
    assert sliders == [("1", "0"), ("2", "1")], "one slider per parameter, at the start value"
    start = scrub.index(phi="tanh", slope=1.0)
    assert f'data-frame="{start}"' in page
    assert f'src="data:image/png;base64,{data["frames"][start]}"' in page
    assert "φ" in page and "http" not in page, "the scrubber loads nothing from the network"
    assert "without Python" in page, "the page says which version the reader is looking at"
    assert repr(scrub).startswith("Exploration: 6 precomputed figures")
    # The image says what it shows and which setting is drawn; the script keeps that current.
    assert f'alt="{ALT} Shown: φ tanh, slope 1."' in page
    assert data["alt"] == ALT and data["names"] == ["φ", "slope"]
    assert scrub.describe(scrub.index(phi="relu", slope=2.0)) == f"{ALT} Shown: φ relu, slope 2."
    # Without HTML (the PDF), the frame shown first.
    assert scrub._repr_png_() == scrub.frame(phi="tanh", slope=1.0)


@pytest.mark.parametrize("alt", ["", "plot", "Figure of slope", "../_images/53f2ab.png",
                                 "see _build/html/figure.svg for it", None])
def test_alt_text_must_be_a_sentence_not_a_path(alt):
    with pytest.raises(ValueError, match="alt must be a sentence"):
        exploration.scrubber(draw, GRID, figsize=(4, 3), alt=alt)


@pytest.mark.parametrize("grid,match", [
    ({}, "one or two parameters"),
    ({"phi": ["tanh", "relu"], "slope": [1, 2], "x": [1, 2]}, "one or two parameters"),
    ({"slope": [1.0]}, "at least two distinct values"),
    ({"slope": [1.0, 1.0]}, "at least two distinct values"),
    ({"slope": "ab"}, "at least two distinct values"),
    ({"slope": list(range(exploration.MAX_FRAMES + 1))}, "MAX_FRAMES"),
    ({"gain": [1.0, 2.0]}, "cannot take the grid's parameters"),
])
def test_bad_grids_are_refused(grid, match):
    with pytest.raises(ValueError, match=match):
        exploration.scrubber(draw, grid, figsize=(4, 3), alt=ALT)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match=r"start\['slope'\] must be one of"):
        exploration.scrubber(draw, GRID, figsize=(4, 3), alt=ALT, start={"slope": 3.0})
    with pytest.raises(ValueError, match="labels must be a dict keyed by"):
        exploration.scrubber(draw, GRID, figsize=(4, 3), alt=ALT, labels={"gain": "g"})
    with pytest.raises(ValueError, match="figsize must be"):
        exploration.scrubber(draw, GRID, figsize=(4, -3), alt=ALT)
    with pytest.raises(ValueError, match="draw must be a function"):
        exploration.scrubber("draw", GRID, figsize=(4, 3), alt=ALT)


def test_every_frame_must_be_labelled_and_legible():
    def unlabelled(fig, slope=1.0):
        fig.subplots().plot([0, slope])

    with pytest.raises(ValueError, match="no x-axis label"):
        exploration.scrubber(unlabelled, {"slope": [1.0, 2.0]}, figsize=(4, 3), alt=ALT)

    def tiny(fig, slope=1.0):
        draw(fig, slope)
        fig.axes[0].set_title("tiny", fontsize=3)  # 7 px at the column width

    with pytest.raises(ValueError, match="below"):
        exploration.scrubber(tiny, {"slope": [1.0, 2.0]}, figsize=(4, 3), alt=ALT)


def test_the_page_weight_is_bounded(monkeypatch):
    monkeypatch.setattr(exploration, "MAX_BYTES", 10)
    with pytest.raises(ValueError, match="exceed MAX_BYTES"):
        exploration.scrubber(draw, GRID, figsize=(4, 3), alt=ALT)


def test_index_rejects_points_off_the_grid(scrub):
    with pytest.raises(ValueError, match="must be one of the grid's values"):
        scrub.index(phi="erf", slope=1.0)
    with pytest.raises(ValueError, match="give a value for each of"):
        scrub.index(phi="tanh")


def test_live_takes_the_parameters_alone_and_draws():
    show = exploration.live(draw, figsize=(4, 3))
    assert list(inspect.signature(show).parameters) == ["slope", "phi"]
    CALLS.clear()
    show(slope=2.0, phi="relu")
    assert CALLS == [(2.0, "relu")]
    with pytest.raises(ValueError, match="figsize must be"):
        exploration.live(draw, figsize=(0, 3))
