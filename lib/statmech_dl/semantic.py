r"""Data and theory of semantic development in deep linear networks.

Used by the chapter *Semantic development* (``book/semantic_development.md``),
which follows Saxe, McClelland & Ganguli (CogSci 2013; PNAS 2019) and Rogers &
McClelland (2004).

Conventions: a data set is a *features-by-items* matrix :math:`Y` (one column
per item). Items are presented to the network as one-hot inputs.
"""

from typing import NamedTuple

import numpy as np

from . import _validation as v

__all__ = [
    "FeatureData",
    "rogers_mcclelland",
    "typicality_birds",
    "branching_diffusion",
    "hierarchy_correlation",
    "hierarchy_spectrum",
    "hierarchy_modes",
    "category_hierarchy",
    "category_hierarchy_spectrum",
    "CoherenceTheory",
    "category_coherence",
    "coherence_theory",
    "coherent_category",
    "teach_novel_property",
    "teach_novel_item",
]


class FeatureData(NamedTuple):
    """A small semantic data set.

    Attributes
    ----------
    items : tuple of str
        Item names, one per column of ``matrix``.
    features : tuple of str
        Property names, one per row of ``matrix``.
    matrix : ndarray, shape (n_features, n_items)
        1 where the item has the property, 0 otherwise.
    """

    items: tuple
    features: tuple
    matrix: np.ndarray


_RM_ITEMS = ("pine", "oak", "rose", "daisy", "robin", "canary", "sunfish", "salmon")
_RM_FEATURES = {
    # ISA
    "ISA living thing": _RM_ITEMS,
    "ISA plant": ("pine", "oak", "rose", "daisy"),
    "ISA animal": ("robin", "canary", "sunfish", "salmon"),
    "ISA tree": ("pine", "oak"),
    "ISA flower": ("rose", "daisy"),
    "ISA bird": ("robin", "canary"),
    "ISA fish": ("sunfish", "salmon"),
    **{f"ISA {item}": (item,) for item in _RM_ITEMS},
    # is
    "is living": _RM_ITEMS,
    "is big": ("pine", "oak"),
    "is pretty": ("rose", "daisy"),
    "is green": ("pine",),
    "is red": ("rose", "robin", "salmon"),
    "is yellow": ("daisy", "canary", "sunfish"),
    # can
    "can grow": _RM_ITEMS,
    "can move": ("robin", "canary", "sunfish", "salmon"),
    "can fly": ("robin", "canary"),
    "can swim": ("sunfish", "salmon"),
    "can sing": ("canary",),
    # has
    "has roots": ("pine", "oak", "rose", "daisy"),
    "has bark": ("pine", "oak"),
    "has branches": ("pine", "oak"),
    "has leaves": ("oak", "rose", "daisy"),
    "has petals": ("rose", "daisy"),
    "has skin": ("robin", "canary", "sunfish", "salmon"),
    "has wings": ("robin", "canary"),
    "has feathers": ("robin", "canary"),
    "has scales": ("sunfish", "salmon"),
    "has gills": ("sunfish", "salmon"),
}


def _feature_matrix(items, features):
    M = np.zeros((len(features), len(items)))
    col = {name: j for j, name in enumerate(items)}
    for i, owners in enumerate(features.values()):
        for owner in owners:
            M[i, col[owner]] = 1.0
    return FeatureData(tuple(items), tuple(features), M)


def rogers_mcclelland():
    """The eight-item semantic data set of Rogers & McClelland (2004).

    Eight items (pine, oak, rose, daisy, robin, canary, sunfish, salmon), each
    with its ISA, *is*, *can* and *has* properties. This is our encoding of the
    set that Rogers & McClelland took over from Rumelhart's network; published
    versions differ in a few properties. Pine, alone among the plants, has no
    leaves, which produces the illusory correlation studied in the chapter
    *Semantic development*.

    Returns
    -------
    FeatureData
        ``(items, features, matrix)`` with ``matrix`` of shape (36, 8).
    """
    return _feature_matrix(_RM_ITEMS, _RM_FEATURES)


_BIRD_PROTOTYPE = (
    "has feathers", "has wings", "has a beak", "lays eggs",
    "can fly", "builds nests", "can sing", "is small",
)
_BIRD_MISSING = {
    "robin": (),
    "pigeon": ("can sing", "is small"),
    "chicken": ("can fly", "can sing", "is small"),
    "penguin": ("can fly", "builds nests", "can sing", "is small"),
}


def typicality_birds():
    """A toy category of birds of graded typicality.

    Every bird has the bird properties of the prototype except those listed as
    missing (robin none, pigeon two, chicken three, penguin four), plus a
    property of its own (``"ISA <name>"``). Used in the chapter *Semantic
    development* to show that typical items are learned first.

    Returns
    -------
    FeatureData
        ``(items, features, matrix)`` with 8 prototype properties followed by
        4 item-specific ones.
    """
    features = {}
    for prop in _BIRD_PROTOTYPE:
        features[prop] = tuple(b for b, missing in _BIRD_MISSING.items() if prop not in missing)
    for bird in _BIRD_MISSING:
        features[f"ISA {bird}"] = (bird,)
    return _feature_matrix(tuple(_BIRD_MISSING), features)


def _tree_args(depth, branching, flip_prob=None):
    depth = v.integer("depth", depth, lo=1)
    branching = v.integer("branching", branching, lo=2)
    if branching**depth > 100_000:
        raise ValueError(f"branching**depth must be at most 100000 items, got {branching}**{depth}")
    if flip_prob is None:
        return depth, branching
    flip_prob = v.real("flip_prob", flip_prob, lo=0.0, hi=0.5)
    return depth, branching, flip_prob


def branching_diffusion(depth, branching, n_features, flip_prob, rng=None):
    r"""Sample features from the hierarchical branching diffusion model.

    Items are the leaves of a tree with ``depth`` levels of branching and
    ``branching`` children per node, so there are ``branching**depth`` items,
    ordered so that every subtree is a contiguous block. Each feature takes a
    value :math:`\pm 1` with equal probability at the root and then descends
    the tree, flipping its sign with probability ``flip_prob`` independently on
    every link. Features are independent.

    Parameters
    ----------
    depth : int
        Number of branching levels, :math:`\ge 1`.
    branching : int
        Children per node, :math:`\ge 2`.
    n_features : int
        Number of independent features, :math:`\ge 1`.
    flip_prob : float
        Flip probability per link, :math:`\varepsilon \in [0, 1/2]`.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_features, branching**depth)
        Entries :math:`\pm 1`.
    """
    depth, branching, flip_prob = _tree_args(depth, branching, flip_prob)
    n_features = v.integer("n_features", n_features, lo=1)
    gen = v.as_generator(rng)
    values = gen.choice([-1.0, 1.0], size=(n_features, 1))
    for _ in range(depth):
        values = np.repeat(values, branching, axis=1)
        flips = gen.random(values.shape) < flip_prob
        values = np.where(flips, -values, values)
    return values


def _lca_levels(depth, branching):
    # Level (0 = root, depth = the leaf itself) of the lowest common ancestor.
    P = branching**depth
    idx = np.arange(P)
    level = np.full((P, P), depth)
    for k in range(depth):
        # Leaves i and j share their ancestor at level k+1 iff their indices
        # agree after integer division by branching**(depth-k-1).
        block = branching ** (depth - k - 1)
        same = (idx[:, None] // block) == (idx[None, :] // block)
        level = np.where(~same & (level == depth), k, level)
    return level


def hierarchy_correlation(depth, branching, flip_prob):
    r"""Exact item-item correlation :math:`C_{ij} = E[f_i f_j]` of one feature.

    Two leaves whose lowest common ancestor sits :math:`m` levels above them are
    :math:`2m` links apart, and each link preserves the sign with net
    correlation :math:`r = 1 - 2\varepsilon`, so :math:`C_{ij} = r^{2m}`.

    Parameters
    ----------
    depth, branching, flip_prob
        As in :func:`branching_diffusion`.

    Returns
    -------
    ndarray, shape (P, P)
    """
    depth, branching, flip_prob = _tree_args(depth, branching, flip_prob)
    r = 1.0 - 2.0 * flip_prob
    return r ** (2 * (depth - _lca_levels(depth, branching)))


def hierarchy_spectrum(depth, branching, flip_prob):
    r"""Eigenvalues and multiplicities of :func:`hierarchy_correlation`.

    The eigenvectors are the constant vector and, for every internal node at
    level :math:`k` (root :math:`k=0`), :math:`B-1` contrasts between the
    subtrees of its children. With :math:`\gamma_m = r^{2(D-m)}` the correlation of
    two leaves whose common ancestor is at level :math:`m` and :math:`n_m =
    B^{D-m} - B^{D-m-1}` (:math:`n_D = 1`) the number of leaves at that
    relation, the eigenvalues are

    .. math::

        \lambda_{\mathrm{root}} = \sum_{m=0}^{D} n_m \gamma_m, \qquad
        \lambda_k = \sum_{m=k+1}^{D} n_m \gamma_m - B^{D-k-1} \gamma_k ,

    with multiplicities :math:`1` and :math:`B^k (B-1)`. Chapter *Semantic
    development*, equation ``eq-semdev-tree-spectrum``.

    Parameters
    ----------
    depth, branching, flip_prob
        As in :func:`branching_diffusion`.

    Returns
    -------
    eigenvalues : ndarray, shape (depth + 1,)
        One eigenvalue per hierarchy level (root first), in decreasing order.
    multiplicities : ndarray of int, shape (depth + 1,)
    """
    depth, branching, flip_prob = _tree_args(depth, branching, flip_prob)
    D, B = depth, branching
    q2 = (1.0 - 2.0 * flip_prob) ** 2
    c = np.array([q2 ** (D - m) for m in range(D + 1)])
    n = np.array([B ** (D - m) - B ** (D - m - 1) for m in range(D)] + [1])
    eig = [float(np.sum(n * c))]
    mult = [1]
    for k in range(D):
        eig.append(float(np.sum(n[k + 1:] * c[k + 1:]) - B ** (D - k - 1) * c[k]))
        mult.append(B**k * (B - 1))
    eig = np.array(eig)
    # The levels are already in decreasing order; a stable sort keeps that
    # order for ties (at flip_prob 0 or 1/2) and guards against rounding.
    order = np.argsort(-eig, kind="stable")
    return eig[order], np.array(mult)[order]


def hierarchy_modes(depth, branching):
    r"""Orthonormal eigenvectors of the tree correlation matrix, level by level.

    The first column is the constant vector; then, for each level :math:`k`
    and each node at that level, :math:`B-1` orthonormal contrasts between its
    children's subtrees (built from a Helmert basis). These are the object
    analysers of data generated by :func:`branching_diffusion`, whatever the
    flip probability.

    Parameters
    ----------
    depth, branching
        As in :func:`branching_diffusion`.

    Returns
    -------
    modes : ndarray, shape (P, P)
        One eigenvector per column.
    levels : ndarray of int, shape (P,)
        ``-1`` for the constant vector, otherwise the level :math:`k` of the
        node whose children the vector contrasts.
    """
    depth, branching = _tree_args(depth, branching)
    B, D = branching, depth
    P = B**D
    # Helmert contrasts: orthonormal vectors orthogonal to the constant.
    helmert = np.zeros((B, B - 1))
    for j in range(1, B):
        helmert[:j, j - 1] = 1.0
        helmert[j, j - 1] = -j
        helmert[:, j - 1] /= np.linalg.norm(helmert[:, j - 1])
    cols = [np.full(P, 1.0 / np.sqrt(P))]
    levels = [-1]
    for k in range(D):
        child = B ** (D - k - 1)
        for node in range(B**k):
            start = node * B * child
            for j in range(B - 1):
                vec = np.zeros(P)
                vec[start:start + B * child] = np.repeat(helmert[:, j], child) / np.sqrt(child)
                cols.append(vec)
                levels.append(k)
    return np.array(cols).T, np.array(levels)


def _features_per_level(features_per_level, depth):
    f = np.asarray(features_per_level)
    if f.shape != (depth + 1,) or not np.issubdtype(f.dtype, np.integer) or np.any(f < 0) or f.sum() == 0:
        raise ValueError(f"features_per_level must hold depth + 1 = {depth + 1} non-negative integers "
                         f"(root first, not all zero), got {features_per_level!r}")
    return f.astype(int)


def category_hierarchy(depth, branching, features_per_level):
    r"""Items at the leaves of a tree, each category carrying its own features.

    Every node at level :math:`l` of a tree of depth :math:`D` and branching
    :math:`B` (root :math:`l = 0`, single items :math:`l = D`) is a category of
    :math:`K_l = B^{D-l}` items with :math:`F_l` features of its own, which all
    of its items have and no other item has. Used in the chapter *Semantic
    development* for the hierarchical definition of category coherence and for
    basic-level effects.

    Parameters
    ----------
    depth : int
        :math:`D \ge 1`.
    branching : int
        :math:`B \ge 2`.
    features_per_level : sequence of int
        :math:`F_0, \dots, F_D`, root first.

    Returns
    -------
    FeatureData
        Items named by their path in the tree (``"0.1.1"``), features by the
        category they belong to.
    """
    depth, branching = _tree_args(depth, branching)
    f = _features_per_level(features_per_level, depth)
    P = branching**depth
    leaves = np.arange(P)
    items = tuple(".".join(str(d) for d in np.base_repr(i, branching).zfill(depth)) for i in leaves)
    rows, names = [], []
    for level in range(depth + 1):
        size = branching ** (depth - level)
        for node in range(branching**level):
            member = (leaves // size == node).astype(float)
            for j in range(f[level]):
                rows.append(member)
                names.append(f"level {level}, category {node}, feature {j}")
    return FeatureData(items, tuple(names), np.array(rows))


def category_hierarchy_spectrum(depth, branching, features_per_level, noise_std=1.0):
    r"""Singular values of :func:`category_hierarchy` by level, and the coherence of each level's categories.

    The item-item matrix :math:`Y^\top Y` has entry :math:`\sum_{l \le m_{ij}}
    F_l` for items whose lowest common ancestor is at level :math:`m_{ij}`, so
    its eigenvectors are the tree contrasts of :func:`hierarchy_modes`. The
    contrast that splits a node at level :math:`k` into its children has

    .. math::

        s_k^2 = \sum_{l=k+1}^{D} F_l K_l , \qquad K_l = B^{D-l},

    and the constant mode has :math:`s_{\mathrm{root}}^2 = \sum_{l=0}^{D} F_l K_l`.
    Measured in units of the noise, :math:`F_l K_l / (\sigma^2\sqrt{N_o N_f})`
    is the coherence :math:`\mathcal C_l` of a level-:math:`l` category
    (equation ``eq-semdev-coherence`` with :math:`K_o = K_l`, :math:`K_f = F_l`):
    the strength of a distinction is the summed coherence of every category
    below it, :math:`s_k^2 = \sigma^2\sqrt{N_o N_f}\sum_{l>k}\mathcal C_l`.

    Parameters
    ----------
    depth, branching, features_per_level
        As in :func:`category_hierarchy`.
    noise_std : float, optional
        :math:`\sigma > 0`, the scale in which coherence is measured.

    Returns
    -------
    singular_values : ndarray, shape (depth + 1,)
        :math:`s_{\mathrm{root}}, s_0, \dots, s_{D-1}`.
    multiplicities : ndarray of int, shape (depth + 1,)
        :math:`1` and :math:`B^k(B-1)`.
    coherence : ndarray, shape (depth + 1,)
        :math:`\mathcal C_0, \dots, \mathcal C_D`, the coherence of one category of each level.
    """
    depth, branching = _tree_args(depth, branching)
    f = _features_per_level(features_per_level, depth)
    noise_std = v.real("noise_std", noise_std, lo=0.0, lo_open=True)
    sizes = branching ** (depth - np.arange(depth + 1))
    weight = f * sizes                                   # F_l K_l
    s2 = np.array([weight.sum()] + [weight[k + 1:].sum() for k in range(depth)], dtype=float)
    mult = np.array([1] + [branching**k * (branching - 1) for k in range(depth)])
    n_features = int(np.sum(f * branching ** np.arange(depth + 1)))
    coherence = weight / (noise_std**2 * np.sqrt(branching**depth * n_features))
    return np.sqrt(s2), mult, coherence


class CoherenceTheory(NamedTuple):
    """Large-size theory of a category embedded in noise (see :func:`coherence_theory`)."""

    coherence: float
    learnable: bool
    singular_value: float
    bulk_edge: float
    item_overlap: float
    feature_overlap: float


def _coherence_args(n_items, n_features, k_items, k_features, noise_std):
    n_items = v.integer("n_items", n_items, lo=2)
    n_features = v.integer("n_features", n_features, lo=2)
    k_items = v.integer("k_items", k_items, lo=1, hi=n_items)
    k_features = v.integer("k_features", k_features, lo=1, hi=n_features)
    noise_std = v.real("noise_std", noise_std, lo=0.0, lo_open=True)
    return n_items, n_features, k_items, k_features, noise_std


def category_coherence(n_items, n_features, k_items, k_features, noise_std):
    r"""Coherence of a category of ``k_items`` items sharing ``k_features`` features.

    .. math::

        \mathcal{C} = \frac{K_o K_f}{\sigma^2 \sqrt{N_o N_f}} ,

    the signal strength of the category block relative to the noise, measured
    in the units in which it becomes detectable at :math:`\mathcal C = 1`
    (Saxe, McClelland & Ganguli 2019).

    Parameters
    ----------
    n_items, n_features : int
        :math:`N_o, N_f \ge 2`: items and features in the whole data set.
    k_items, k_features : int
        :math:`1 \le K_o \le N_o`, :math:`1 \le K_f \le N_f`: size of the category.
    noise_std : float
        :math:`\sigma > 0`, standard deviation of the Gaussian noise on every entry.
    """
    n_items, n_features, k_items, k_features, noise_std = _coherence_args(
        n_items, n_features, k_items, k_features, noise_std)
    return k_items * k_features / (noise_std**2 * np.sqrt(n_items * n_features))


def coherence_theory(n_items, n_features, k_items, k_features, noise_std):
    r"""Top singular value and singular-vector overlaps of a noisy category.

    The data are :math:`Y = \mathbf 1_{K_f} \mathbf 1_{K_o}^\top + \sigma Z`
    (the category block plus i.i.d. standard Gaussian noise). Scaled by
    :math:`\sigma\sqrt{N_o}` this is a rank-one spike of strength
    :math:`\theta = \sqrt{K_o K_f / N_o}/\sigma` on a rectangular noise matrix
    of aspect ratio :math:`c = N_f / N_o`. For large matrices
    (Benaych-Georges & Nadakuditi 2012), if :math:`\theta^2 > \sqrt{c}`, which
    is the condition :math:`\mathcal C > 1`, the top singular value separates
    from the noise bulk at

    .. math::

        s = \sigma\sqrt{N_o}\,\frac{\sqrt{(1+\theta^2)(c+\theta^2)}}{\theta}

    and the top singular vectors overlap the category's item and feature
    indicators with

    .. math::

        |\langle \hat v, v\rangle|^2 = 1 - \frac{c+\theta^2}{\theta^2(1+\theta^2)},\qquad
        |\langle \hat u, u\rangle|^2 = 1 - \frac{c(1+\theta^2)}{\theta^2(c+\theta^2)} .

    Below threshold the top singular value sticks to the bulk edge
    :math:`\sigma\sqrt{N_o}(1+\sqrt c)` and both overlaps vanish: the category
    is not a learnable mode. For :math:`c > 1` the formulas are applied to the
    transpose.

    Parameters
    ----------
    n_items, n_features, k_items, k_features, noise_std
        As in :func:`category_coherence`.

    Returns
    -------
    CoherenceTheory
        ``(coherence, learnable, singular_value, bulk_edge, item_overlap,
        feature_overlap)``; overlaps are squared cosines.
    """
    args = _coherence_args(n_items, n_features, k_items, k_features, noise_std)
    n_items, n_features, k_items, k_features, noise_std = args
    coh = category_coherence(*args)
    # Work with the wide orientation (fewer rows than columns, c <= 1).
    n_cols, n_rows = max(n_items, n_features), min(n_items, n_features)
    c = n_rows / n_cols
    scale = noise_std * np.sqrt(n_cols)
    theta2 = k_items * k_features / (noise_std**2 * n_cols)
    edge = scale * (1 + np.sqrt(c))
    if theta2 <= np.sqrt(c):
        return CoherenceTheory(float(coh), False, float(edge), float(edge), 0.0, 0.0)
    s = scale * np.sqrt((1 + theta2) * (c + theta2) / theta2)
    col_overlap = 1 - (c + theta2) / (theta2 * (1 + theta2))
    row_overlap = 1 - c * (1 + theta2) / (theta2 * (c + theta2))
    if n_items >= n_features:
        item_ov, feat_ov = col_overlap, row_overlap
    else:
        item_ov, feat_ov = row_overlap, col_overlap
    return CoherenceTheory(float(coh), True, float(s), float(edge), float(item_ov), float(feat_ov))


def coherent_category(n_items, n_features, k_items, k_features, noise_std, rng=None):
    r"""Sample a category embedded in Gaussian noise.

    Parameters
    ----------
    n_items, n_features, k_items, k_features, noise_std
        As in :func:`category_coherence`.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    Y : ndarray, shape (n_features, n_items)
        The first ``k_features`` features are 1 on the first ``k_items``
        items, everything else 0, plus noise of standard deviation
        ``noise_std`` on every entry.
    item_vector : ndarray, shape (n_items,)
        Unit vector on the category's items.
    feature_vector : ndarray, shape (n_features,)
        Unit vector on the category's features.
    """
    n_items, n_features, k_items, k_features, noise_std = _coherence_args(
        n_items, n_features, k_items, k_features, noise_std)
    gen = v.as_generator(rng)
    Y = noise_std * gen.standard_normal((n_features, n_items))
    Y[:k_features, :k_items] += 1.0
    item_vec = np.zeros(n_items)
    item_vec[:k_items] = 1 / np.sqrt(k_items)
    feat_vec = np.zeros(n_features)
    feat_vec[:k_features] = 1 / np.sqrt(k_features)
    return Y, item_vec, feat_vec


def _teach(H, target_index, lr, n_steps, axis_name):
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    n_steps = v.integer("n_steps", n_steps, lo=1)
    h = H[:, target_index]
    norm2 = float(h @ h)
    if norm2 == 0.0:
        raise ValueError(f"the {axis_name} has a zero representation; train the network first")
    if lr * norm2 >= 2.0:
        raise ValueError(f"lr must be below 2/|h|^2 = {2.0 / norm2:.3g} for this network, got {lr:g}")
    w = np.zeros(H.shape[0])
    for _ in range(n_steps):
        w += lr * (1.0 - w @ h) * h
    return w @ H


def teach_novel_property(W21, item, lr=0.1, n_steps=200):
    r"""Teach a trained network that one item has a new property; return its generalisation.

    A new output unit with weights :math:`w` (starting at zero) is trained by
    gradient descent on :math:`\tfrac12 (1 - w^\top h_i)^2` with the rest of
    the network frozen, where :math:`h_i` is the hidden representation of the
    taught item. The new property is then predicted for every item :math:`j` as
    :math:`w^\top h_j`. At convergence this is :math:`h_j^\top h_i / \lVert h_i
    \rVert^2`: generalisation follows hidden-layer similarity.

    Parameters
    ----------
    W21 : array_like, shape (N2, P)
        First-layer weights of a network with one-hot inputs; column :math:`j`
        is the hidden representation of item :math:`j`.
    item : int
        Index of the taught item.
    lr : float, optional
        Learning rate, :math:`0 < \eta < 2/\lVert h_i\rVert^2`.
    n_steps : int, optional

    Returns
    -------
    ndarray, shape (P,)
        The new property predicted for every item.
    """
    W21 = v.matrix("W21", W21)
    item = v.integer("item", item, lo=0, hi=W21.shape[1] - 1)
    return _teach(W21, item, lr, n_steps, "item")


def teach_novel_item(W32, feature, lr=0.1, n_steps=200):
    r"""Teach a trained network one property of a new item; return the inferred properties.

    A new input unit is added whose outgoing weights :math:`h` (the new item's
    hidden representation, starting at zero) are trained on
    :math:`\tfrac12 (1 - w_f^\top h)^2`, where :math:`w_f` is row :math:`f` of
    :math:`W^{32}`: the network is told only that the new item has property
    :math:`f`. It then predicts property :math:`g` as :math:`w_g^\top h`, which
    converges to :math:`(W^{32} W^{32\top})_{gf} / (W^{32} W^{32\top})_{ff}`.

    Parameters
    ----------
    W32 : array_like, shape (N3, N2)
        Second-layer weights of a trained network.
    feature : int
        Index of the property the new item is known to have.
    lr : float, optional
        Learning rate, :math:`0 < \eta < 2/\lVert w_f\rVert^2`.
    n_steps : int, optional

    Returns
    -------
    ndarray, shape (N3,)
        Every property predicted for the new item.
    """
    W32 = v.matrix("W32", W32)
    feature = v.integer("feature", feature, lo=0, hi=W32.shape[0] - 1)
    return _teach(W32.T, feature, lr, n_steps, "feature")
