r"""Finite-width random networks: the Monte Carlo side of the mean-field theory.

:mod:`statmech_dl.meanfield` and :mod:`statmech_dl.isometry` predict what
happens in infinitely wide random networks; the functions here build finite
networks, push inputs through them and measure the same quantities, so that
chapters and tests can put the two side by side (chapters *Transient chaos* and
*Dynamical isometry*). Networks are

.. math::

    h^l = W^l \phi(h^{l-1}) + b^l, \qquad b^l_i \sim \mathcal N(0, \sigma_b^2),

with every weight matrix drawn through :mod:`statmech_dl.init`: Gaussian,
:math:`W^l_{ij} \sim \mathcal N(0, \sigma_w^2/N)`, or scaled orthogonal,
:math:`W^l = \sigma_w O^l`. :func:`simulate`, which only needs the forward
pass of Gaussian networks, draws each layer's pre-activations from their
exact law given the layer below instead of drawing the weights.

Measurement helpers
-------------------
:func:`correlated_inputs` and :func:`scale_to_length` make inputs whose
first-layer pre-activations have a chosen length and correlation;
:func:`layer_statistics` measures the length :math:`q^l_a = \frac1N\sum_i
(h^l_{ia})^2` and correlation :math:`c^l_{ab} = \frac1N\sum_i h^l_{ia}h^l_{ib}
/\sqrt{q^l_a q^l_b}` of every layer, which follow the length and correlation
maps as :math:`N \to \infty`.
"""

import numpy as np

from . import _validation as v
from . import init, meanfield, nonlinearities

__all__ = [
    "correlated_inputs",
    "scale_to_length",
    "layer_statistics",
    "simulate",
    "propagate_circle",
    "gradient_norms",
    "jacobian_spectrum",
]


def _sigmas(sigma_w, sigma_b):
    return v.real("sigma_w", sigma_w, lo=0.0, lo_open=True), v.real("sigma_b", sigma_b, lo=0.0)


def correlated_inputs(width, c, rng=None):
    r"""Two standard Gaussian vectors whose correlation is :math:`c` in expectation.

    :math:`x_1 = z_1` and :math:`x_2 = c z_1 + \sqrt{1 - c^2}\, z_2` with
    independent standard Gaussian :math:`z_1, z_2`.

    Parameters
    ----------
    width : int
        :math:`N \ge 1`.
    c : float
        In :math:`[-1, 1]`.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (width, 2)
    """
    width = v.integer("width", width, lo=1)
    c = v.real("c", c, lo=-1.0, hi=1.0)
    z1, z2 = v.as_generator(rng).standard_normal((2, width))
    return np.stack([z1, c * z1 + np.sqrt(1 - c**2) * z2], axis=1)


def scale_to_length(x, q, sigma_w, sigma_b):
    r"""Rescale each input so that the first layer's pre-activations have expected length :math:`q`.

    The first layer computes :math:`h^1 = W^1 x + b^1`, whose mean squared
    entry is :math:`\sigma_w^2 \lVert x\rVert^2/N + \sigma_b^2` on average over
    the weights; column :math:`a` of ``x`` is rescaled so that this equals
    :math:`q_a`.

    Parameters
    ----------
    x : array_like, shape (N, n_inputs)
        One input per column.
    q : float or array_like, shape (n_inputs,)
        Target lengths, each :math:`> \sigma_b^2` (a length below the bias
        variance cannot be reached).
    sigma_w, sigma_b : float

    Returns
    -------
    ndarray, shape (N, n_inputs)
    """
    x = v.matrix("x", x)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    q = v.real_array("q", q, lo=sigma_b**2, lo_open=True)
    norm = np.mean(x**2, axis=0)
    if np.any(norm == 0):
        raise ValueError("x must have no zero column: a zero input cannot be rescaled")
    return x * np.sqrt((q - sigma_b**2) / sigma_w**2 / norm)


def layer_statistics(h):
    r"""Length of every input and correlation of every pair of inputs, layer by layer.

    Parameters
    ----------
    h : array_like, shape (depth, N, n_inputs)
        Pre-activations, as returned by :func:`simulate`.

    Returns
    -------
    q : ndarray, shape (depth, n_inputs)
        :math:`q^l_a = \frac1N \sum_i (h^l_{ia})^2`.
    c : ndarray, shape (depth, n_inputs, n_inputs)
        :math:`c^l_{ab} = \frac1N \sum_i h^l_{ia} h^l_{ib} / \sqrt{q^l_a q^l_b}`.
    """
    h = v.matrix("h", h, ndim=3)
    q = np.mean(h**2, axis=1)
    if np.any(q == 0):
        raise ValueError("h must not have a layer in which an input's pre-activations all vanish")
    gram = np.einsum("lia,lib->lab", h, h) / h.shape[1]
    return q, gram / np.sqrt(q[:, :, None] * q[:, None, :])


def simulate(inputs, depth, sigma_w, sigma_b, phi="tanh", rng=None, dropout=None, draw_weights=False):
    r"""Propagate inputs through one random deep network; return the pre-activations.

    Layer :math:`l` computes :math:`h^l = W^l \phi(h^{l-1}) + b^l` (for
    :math:`l = 1` the inputs themselves are multiplied: :math:`h^1 = W^1 x + b^1`),
    with fresh Gaussian weights of variance :math:`\sigma_w^2/N` and biases of
    variance :math:`\sigma_b^2`. :func:`layer_statistics` measures the lengths
    and correlations that the mean-field maps predict.

    The network is exact at every width, but by default its weight matrices
    are never drawn. Given the layer below, :math:`y = \phi(h^{l-1})` for all
    the inputs at once (one column each), the rows of :math:`W^l y` are
    independent Gaussian vectors with covariance
    :math:`\sigma_w^2\, y^\top y / N`, because each row of :math:`W^l` is
    fresh and used by nothing else. So each layer's pre-activations are
    drawn from that distribution: :math:`N \times n` normal numbers for
    :math:`n` inputs instead of :math:`N \times N`, 500 times fewer for two
    inputs at width 1,000. The joint distribution of all layers and all
    inputs, finite-width fluctuations included, is that of the network with
    its weights drawn (``draw_weights=True``), though the numbers drawn from
    a given seed differ; the tests check the two against each other.

    Parameters
    ----------
    inputs : array_like, shape (N, n_inputs)
        One input per column; all layers have width ``N``.
    depth : int
        Number of layers, :math:`\ge 1`.
    sigma_w, sigma_b : float
    phi : str
        A name from :mod:`statmech_dl.nonlinearities`.
    rng : None, int or numpy.random.Generator
    dropout : float, optional
        Keep probability :math:`\rho \in (0, 1]`: each input column gets its own
        independent dropout mask on :math:`\phi(h)` at every layer, scaled by
        :math:`1/\rho`.
    draw_weights : bool, optional
        Draw every :math:`N \times N` weight matrix and multiply by it.

    Returns
    -------
    ndarray, shape (depth, N, n_inputs)
        Pre-activations :math:`h^1, \dots, h^L`.
    """
    nl = nonlinearities.get(phi)
    X = v.matrix("inputs", inputs)
    depth = v.integer("depth", depth, lo=1)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    if dropout is not None:
        dropout = v.real("dropout", dropout, lo=0.0, hi=1.0, lo_open=True)
    if not isinstance(draw_weights, bool):
        raise ValueError(f"draw_weights must be True or False, got {draw_weights!r}")
    gen = v.as_generator(rng)
    N = X.shape[0]
    out = np.empty((depth,) + X.shape)
    x = X
    for layer in range(depth):
        if draw_weights:
            W = init.gaussian(N, N, sigma_w, gen)
            b = gen.standard_normal((N, 1)) * sigma_b
        if dropout is not None and layer > 0:
            x = x * (gen.random(x.shape) < dropout) / dropout
        if draw_weights:
            h = W @ x + b
        else:
            h = _fresh_gaussian_layer(x, sigma_w, gen) + gen.standard_normal((N, 1)) * sigma_b
        out[layer] = h
        x = nl.f(h)
    return out


def _fresh_gaussian_layer(x, sigma_w, gen):
    r"""A draw of :math:`W x` for a fresh :math:`W_{ij} \sim \mathcal N(0, \sigma_w^2/N)`, without drawing :math:`W`.

    Its rows are independent, each Gaussian with covariance
    :math:`C = \sigma_w^2 x^\top x / N`: standard normal rows times the
    symmetric square root of :math:`C` (from its eigenvalues, which copes
    with inputs that have become parallel, where :math:`C` is singular).
    """
    n = x.shape[0]
    lam, V = np.linalg.eigh(x.T @ x * (sigma_w**2 / n))
    root = (V * np.sqrt(np.clip(lam, 0.0, None))) @ V.T
    return gen.standard_normal((n, x.shape[1])) @ root


def propagate_circle(width, depth, sigma_w, sigma_b, phi="tanh", n_points=64, rng=None, q=None):
    r"""Propagate a great circle through a random network, with exact derivatives.

    The first layer's pre-activations trace the circle
    :math:`h^1(\theta) = \sqrt{N q}\,(u^0\cos\theta + u^1\sin\theta)` for
    random orthonormal :math:`u^0, u^1`. Its tangent :math:`v = \partial_\theta h`
    and acceleration :math:`a = \partial_\theta^2 h` are propagated exactly by the
    chain rule, :math:`v' = W(\phi'(h)\odot v)` and
    :math:`a' = W(\phi''(h)\odot v\odot v + \phi'(h)\odot a)`, so no finite
    differences are needed. Per layer the function returns

    * the Euclidean length :math:`L^E = \int \lVert v\rVert\, d\theta`;
    * the mean width-normalised curvature :math:`\tilde\kappa^2 = N\,\overline{\kappa^2}`,
      with :math:`\kappa = \sqrt{\lVert v\rVert^2\lVert a\rVert^2 - (v\cdot a)^2}/\lVert v\rVert^3`;
    * the Grassmannian length :math:`L^G = \int \kappa\lVert v\rVert\, d\theta`, the
      length traced by the unit tangent.

    Integrals over :math:`\theta` use the trapezoidal rule on ``n_points``
    equally spaced angles, which is spectrally accurate for periodic curves.

    Parameters
    ----------
    width : int
        :math:`N \ge 2`.
    depth : int
        Number of layers :math:`\ge 1` (layer 1 is the circle itself).
    sigma_w, sigma_b : float
    phi : str
        ``tanh``, ``erf`` or ``linear`` (a second derivative is needed).
    n_points : int, optional
        Angles on the circle, :math:`\ge 8`.
    rng : None, int or numpy.random.Generator
    q : float, optional
        Squared radius per unit, :math:`q > 0`; by default the fixed point
        :math:`q^*` of the length map.

    Returns
    -------
    dict of ndarray, each of shape (depth,)
        ``"euclidean"``, ``"kappa_sq"`` and ``"grassmannian"``.
    """
    nl = nonlinearities.get(phi)
    if not nl.smooth:
        raise ValueError(f"phi must be smooth (tanh, erf or linear) to propagate curvature, got {phi!r}")
    width = v.integer("width", width, lo=2)
    depth = v.integer("depth", depth, lo=1)
    n_points = v.integer("n_points", n_points, lo=8)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    qs = float(meanfield.q_star(sigma_w, sigma_b, phi)) if q is None else v.real("q", q, lo=0.0, lo_open=True)
    gen = v.as_generator(rng)
    basis, _ = np.linalg.qr(gen.standard_normal((width, 2)))
    theta = np.linspace(0, 2 * np.pi, n_points, endpoint=False)
    radius = np.sqrt(width * qs)
    h = radius * (np.outer(basis[:, 0], np.cos(theta)) + np.outer(basis[:, 1], np.sin(theta)))
    vel = radius * (-np.outer(basis[:, 0], np.sin(theta)) + np.outer(basis[:, 1], np.cos(theta)))
    acc = -h.copy()
    dtheta = 2 * np.pi / n_points
    stats = {"euclidean": [], "kappa_sq": [], "grassmannian": []}
    for layer in range(depth):
        if layer > 0:
            W = init.gaussian(width, width, sigma_w, gen)
            b = gen.standard_normal((width, 1)) * sigma_b
            d1, d2 = nl.df(h), nl.ddf(h)
            h, vel, acc = W @ nl.f(h) + b, W @ (d1 * vel), W @ (d2 * vel * vel + d1 * acc)
        vv = np.sum(vel * vel, axis=0)
        aa = np.sum(acc * acc, axis=0)
        va = np.sum(vel * acc, axis=0)
        kappa = np.sqrt(np.maximum(vv * aa - va * va, 0.0)) / vv**1.5
        speed = np.sqrt(vv)
        stats["euclidean"].append(np.sum(speed) * dtheta)
        stats["kappa_sq"].append(width * np.mean(kappa**2))
        stats["grassmannian"].append(np.sum(kappa * speed) * dtheta)
    return {k: np.array(val) for k, val in stats.items()}


def gradient_norms(inputs, depth, sigma_w, sigma_b, phi="tanh", rng=None):
    r"""Squared norms of back-propagated error signals through one random network.

    A forward pass computes :math:`h^1, \dots, h^L` as in :func:`simulate`; a
    random unit-variance error :math:`\delta^L` at the top is then propagated
    down by :math:`\delta^{l-1} = \phi'(h^{l-1}) \odot W^{l\top}\delta^{l}`. At
    the length fixed point, :math:`\lVert\delta^{l-1}\rVert^2 \approx \chi_1
    \lVert\delta^l\rVert^2`: gradients vanish in the ordered phase and explode in
    the chaotic one (Schoenholz et al. 2017).

    Parameters
    ----------
    inputs : array_like, shape (N, n_inputs)
    depth : int
        :math:`L \ge 2`.
    sigma_w, sigma_b : float
    phi : str
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (depth, n_inputs)
        :math:`\lVert\delta^l\rVert^2 / N` for :math:`l = 1, \dots, L`.
    """
    nl = nonlinearities.get(phi)
    X = v.matrix("inputs", inputs)
    depth = v.integer("depth", depth, lo=2)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    gen = v.as_generator(rng)
    N = X.shape[0]
    weights, pre = [], []
    x = X
    for _ in range(depth):
        W = init.gaussian(N, N, sigma_w, gen)
        h = W @ x + gen.standard_normal((N, 1)) * sigma_b
        weights.append(W)
        pre.append(h)
        x = nl.f(h)
    delta = gen.standard_normal(X.shape)
    norms = [np.mean(delta**2, axis=0)]
    for layer in range(depth - 1, 0, -1):
        delta = nl.df(pre[layer - 1]) * (weights[layer].T @ delta)
        norms.append(np.mean(delta**2, axis=0))
    return np.array(norms[::-1])


def jacobian_spectrum(width, depth, sigma_w, sigma_b, phi="tanh", weights="orthogonal", rng=None, q0=None):
    r"""Eigenvalues of :math:`JJ^\top` for one simulated network fed an input at :math:`q^*`.

    An input :math:`x^0 = \phi(h^0)` with :math:`h^0_i \sim \mathcal N(0, q_0)`
    (by default :math:`q_0 = q^*`) puts every layer's pre-activations at the
    fixed point. The Jacobian :math:`J = \partial x^L/\partial x^0 = D^L W^L
    \cdots D^1 W^1` is accumulated layer by layer, :math:`J \leftarrow D^l W^l
    J`, and its squared singular values (from an SVD, which is accurate where
    forming :math:`JJ^\top` would square the condition number) are returned.
    The theory is :func:`statmech_dl.isometry.spectral_density`.

    Parameters
    ----------
    width : int
        :math:`N \ge 2`.
    depth : int
        :math:`L \ge 1`.
    sigma_w : float
        :math:`> 0`; orthogonal weights are :math:`\sigma_w O` with Haar :math:`O`.
    sigma_b : float
        :math:`\ge 0`.
    phi : str
        A name from :mod:`statmech_dl.nonlinearities`.
    weights : str
        ``"orthogonal"`` or ``"gaussian"`` (:data:`statmech_dl.init.ENSEMBLES`).
    rng : None, int or numpy.random.Generator
    q0 : float, optional
        Length of the input's pre-activations; default :math:`q^*`. ReLU and
        linear networks without biases at criticality keep every length, so
        their :math:`q^*` is not unique and ``q0`` must be given.

    Returns
    -------
    ndarray, shape (width,)
        In increasing order.
    """
    nl = nonlinearities.get(phi)
    weights = init.ensemble(weights)
    width = v.integer("width", width, lo=2)
    depth = v.integer("depth", depth, lo=1)
    sigma_w, sigma_b = _sigmas(sigma_w, sigma_b)
    if q0 is None:
        q0 = float(meanfield.q_star(sigma_w, sigma_b, phi))
    q0 = v.real("q0", q0, lo=0.0)
    if nl.name == "relu" and q0 == 0.0:
        raise ValueError("q0 must be > 0 for ReLU: at q0 = 0 every unit sits on the kink")
    gen = v.as_generator(rng)
    x = nl.f(np.sqrt(q0) * gen.standard_normal(width))
    J = None
    for _ in range(depth):
        W = init.draw(weights, width, width, sigma_w, gen)
        h = W @ x + sigma_b * gen.standard_normal(width)
        J = nl.df(h)[:, None] * (W if J is None else W @ J)
        x = nl.f(h)
    return np.sort(np.linalg.svd(J, compute_uv=False) ** 2)
