import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from statmech_dl import plotting  # noqa: E402


def test_style_is_opaque_white_with_black_text():
    plotting.use_book_style()
    rc = matplotlib.rcParams
    assert mcolors.to_hex(rc["figure.facecolor"]) == "#ffffff"
    assert mcolors.to_hex(rc["axes.facecolor"]) == "#ffffff"
    assert rc["savefig.transparent"] is False
    assert mcolors.to_hex(rc["text.color"]) == "#000000"
    cycle = [c["color"] for c in rc["axes.prop_cycle"]]
    assert cycle[: len(plotting.COLORS)] == plotting.COLORS
    assert len(set(plotting.COLORS)) == len(plotting.COLORS) == 8


def test_labelled_requires_axis_labels():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with pytest.raises(ValueError, match="no x-axis label"):
        plotting.labelled(fig)
    ax.set_xlabel("x")
    with pytest.raises(ValueError, match="no y-axis label"):
        plotting.labelled(fig)
    ax.set_ylabel("y")
    assert plotting.labelled(fig) is None  # else a cell ending in it shows the figure twice
    plt.close(fig)


def test_labelled_accepts_shared_axes_and_named_heatmaps():
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x")
    axes[0].set_ylabel("y")
    plotting.labelled(fig)
    plt.close(fig)
    fig, ax = plt.subplots()
    plotting.heatmap(ax, np.eye(2), row_labels=["a", "b"], col_labels=["c", "d"])
    plotting.labelled(fig)
    plt.close(fig)


def test_heatmap_is_symmetric_about_zero():
    fig, ax = plt.subplots()
    im = plotting.heatmap(ax, np.array([[1.0, -3.0], [2.0, 0.5]]), colorbar=False)
    assert im.get_clim() == (-3.0, 3.0)
    with pytest.raises(ValueError, match="M must be a 2-d array"):
        plotting.heatmap(ax, np.ones(3))
    plt.close(fig)
