r"""Loss landscapes: Hessians, critical points and the optimisers that cross them.

The home of the curvature computations of the book. The chapter *Deep linear
dynamics* uses the exact Hessian of a linear network's loss to show why the
learning rate must shrink with depth (:func:`hessian_top_eigenvalue`,
:func:`gauss_newton_hessian`). The chapter *Saddle points* uses the rest:

* **The index of a critical point**, the fraction :math:`\alpha` of negative
  Hessian eigenvalues, counted with a tolerance so that exact zero modes are
  reported apart (:func:`hessian_index`).
* **The spherical p-spin model**, a Gaussian random landscape on the sphere
  :math:`\lVert\sigma\rVert^2 = n` with covariance :math:`\mathbb E[H(\sigma)
  H(\sigma')] = n(\sigma\cdot\sigma'/n)^p`. At a critical point of energy per
  spin :math:`u` its Riemannian Hessian is a GOE matrix, whose semicircle has
  radius :math:`2\sqrt{p(p-1)}`, shifted by :math:`-pu`, so the index is a
  function of the energy alone (eq. ``eq-sp-index``):

  .. math::

      \alpha(u) = \Phi_{\mathrm{sc}}(u/E_\infty), \qquad
      E_\infty = 2\sqrt{(p-1)/p} .

  Theory: :func:`semicircle_cdf`, :func:`pspin_index`, :func:`pspin_threshold`,
  :func:`pspin_ground_energy`. Simulation: :func:`pspin_couplings`,
  :func:`pspin_energy`, :func:`pspin_riemannian`,
  :func:`pspin_critical_points`.
* **How many critical points there are**: the Kac–Rice density at finite
  :math:`n` (:func:`pspin_kac_rice_density`), its large-:math:`n` complexity
  :math:`\Sigma(u)` for all critical points and for those of each index
  (:func:`pspin_complexity`, :func:`pspin_index_edge`), and a census of small
  landscapes that tests both (:func:`pspin_census`).
* **The linear autoencoder** (Baldi & Hornik), whose critical points are the
  subsets of principal directions: :func:`linear_autoencoder_critical_points`
  (theory) and :func:`linear_autoencoder_hessian` (the exact Hessian that
  tests it).
* **Optimisers near saddles**: gradient descent, Newton and saddle-free Newton
  (:func:`descend`, :func:`saddle_free_step`), on the two-dimensional toy
  landscape :func:`toy_saddle` and on a small tanh network
  (:func:`tanh_mlp_landscape`, with its exact Hessian in closed form, tested
  against torch autograd), and a Newton-type search for critical points of
  any index (:func:`critical_point_search`).
"""

import itertools
import math
from functools import reduce
from typing import Callable, NamedTuple

import numpy as np
from scipy import optimize, sparse, special
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from . import _validation as v

__all__ = [
    "hessian_top_eigenvalue",
    "gauss_newton_hessian",
    "hessian_index",
    "block_eigvalsh",
    "semicircle_cdf",
    "pspin_index",
    "pspin_threshold",
    "pspin_ground_energy",
    "pspin_complexity",
    "pspin_index_edge",
    "pspin_kac_rice_density",
    "pspin_census",
    "pspin_couplings",
    "pspin_energy",
    "pspin_riemannian",
    "pspin_critical_points",
    "linear_autoencoder_critical_points",
    "linear_autoencoder_zero_modes",
    "linear_autoencoder_hessian",
    "toy_saddle",
    "saddle_free_step",
    "descend",
    "critical_point_search",
    "METHODS",
    "Landscape",
    "tanh_mlp_landscape",
]


def _product(mats, n):
    """mats[-1] @ ... @ mats[0], or the n x n identity for an empty list."""
    return reduce(lambda acc, M: M @ acc, mats[1:], mats[0]) if mats else np.eye(n)


def hessian_top_eigenvalue(s, n_layers):
    r"""Largest Hessian eigenvalue of the loss at a balanced solution.

    For a chain of :math:`N_l - 1` scalar weights :math:`w` with
    :math:`w^{N_l-1} = s` and loss :math:`\tfrac12 (s - \prod_i w_i)^2`, the
    Hessian at the solution is :math:`g g^\top` with :math:`g_i = s/w`, so

    .. math::

        \lambda_{\max} = (N_l - 1)\, s^{2 - 2/(N_l-1)} .

    For a whitened matrix network the same holds with :math:`s` the largest
    singular value. It grows linearly with depth, so stable gradient descent
    needs a learning rate :math:`\eta < 2/\lambda_{\max} \propto 1/N_l`
    (chapter *Deep linear dynamics*).

    Parameters
    ----------
    s : float or array_like
        Singular value, :math:`s > 0`.
    n_layers : int
        :math:`N_l \ge 2`.
    """
    s = v.real_array("s", s, lo=0.0, lo_open=True)
    n_layers = v.integer("n_layers", n_layers, lo=2)
    return v.scalar_or_array((n_layers - 1) * s ** (2.0 - 2.0 / (n_layers - 1)))


def gauss_newton_hessian(weights, sigma11=None):
    r"""Hessian of the squared loss at a zero-residual point, for all weights.

    Where the network's map equals the least-squares solution the residual
    vanishes and the Hessian of :math:`\mathcal L = \tfrac12
    \operatorname{tr}[(W - W^*) \Sigma^{11} (W - W^*)^\top]` is exactly
    :math:`J^\top (\Sigma^{11} \otimes I) J`, with :math:`J` the Jacobian of
    :math:`\operatorname{vec} W` with respect to all weights. Since
    :math:`\partial W / \partial W_l = A_l\, (\cdot)\, B_l` with :math:`A_l`
    the product of the layers above and :math:`B_l` of those below,
    :math:`J_l = B_l^\top \otimes A_l`. Used in the chapter *Deep linear
    dynamics* to measure curvature against depth.

    Parameters
    ----------
    weights : list of ndarray
        Layer weights, first layer first.
    sigma11 : array_like, optional
        Input correlations; the identity (whitened inputs) by default.

    Returns
    -------
    ndarray, shape (n_params, n_params)
        In the order of the flattened (row-major) layers.
    """
    Ws = [v.matrix(f"weights[{i}]", W) for i, W in enumerate(weights)]
    if not Ws:
        raise ValueError("weights must hold at least one matrix")
    n_in = Ws[0].shape[1]
    for i in range(1, len(Ws)):
        if Ws[i].shape[1] != Ws[i - 1].shape[0]:
            raise ValueError(f"weights[{i}] has {Ws[i].shape[1]} inputs, expected {Ws[i - 1].shape[0]}")
    sigma11 = np.eye(n_in) if sigma11 is None else v.matrix("sigma11", sigma11)
    n_out = Ws[-1].shape[0]
    blocks = []
    for l in range(len(Ws)):
        B = _product(Ws[:l], n_in)                 # the layers below l
        A = _product(Ws[l + 1:], n_out)            # the layers above l
        # Row-major vec: vec(A E B) = (A kron B^T) vec(E).
        blocks.append(np.kron(A, B.T))
    J = np.hstack(blocks)
    metric = np.kron(np.eye(n_out), sigma11)
    return J.T @ metric @ J


# --- the index of a critical point ------------------------------------------------

def hessian_index(eigenvalues, rtol=1e-6):
    r"""Count the negative, zero and positive Hessian eigenvalues, with a tolerance.

    Exact zero modes are common: symmetries (the :math:`GL(k)` gauge of a linear
    autoencoder), inputs without variance, saturated or silent units. Rounding
    gives them either sign, so an eigenvalue counts as zero when
    :math:`|\lambda| \le \mathrm{rtol}\cdot\max_i|\lambda_i|`.

    Parameters
    ----------
    eigenvalues : array_like, shape (d,)
        The Hessian's eigenvalues.
    rtol : float, optional
        Relative tolerance in :math:`[0, 1)`.

    Returns
    -------
    tuple of int
        ``(n_negative, n_zero, n_positive)``. The index fraction of the chapter
        is ``n_negative / d``.
    """
    ev = v.real_array("eigenvalues", eigenvalues)
    if ev.ndim != 1 or ev.size == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-d array, got shape {ev.shape}")
    rtol = v.real("rtol", rtol, lo=0.0, hi=1.0, hi_open=True)
    tol = rtol * np.max(np.abs(ev))
    n_neg, n_pos = int(np.sum(ev < -tol)), int(np.sum(ev > tol))
    return n_neg, ev.size - n_neg - n_pos, n_pos


def block_eigvalsh(H):
    r"""The eigenvalues of a symmetric matrix that is block diagonal up to a permutation, found block by block.

    The blocks are the connected components of the graph whose edges are the
    non-zero entries of ``H``; the eigenvalues of ``H`` are those of its
    blocks together. Blocks of equal size are diagonalised in one batched
    call. A Hessian written in a basis that decouples its directions, such as
    the linear autoencoder's in the eigenbasis of the input covariance
    (chapter *Saddle points*), falls apart into blocks of one to a few
    directions, and this is many times faster than ``numpy.linalg.eigvalsh``
    on the whole matrix, with the same result: only exact zeros separate the
    blocks.

    Parameters
    ----------
    H : array_like, shape (d, d)
        Symmetric.

    Returns
    -------
    ndarray, shape (d,)
        The eigenvalues in increasing order.
    """
    H = v.matrix("H", H)
    if H.shape[0] != H.shape[1] or not np.array_equal(H, H.T):
        raise ValueError(f"H must be a symmetric square matrix, got shape {H.shape}")
    _, labels = csgraph.connected_components(sparse.csr_matrix(H != 0), directed=False)
    order = np.argsort(labels, kind="stable")
    sizes = np.bincount(labels)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = []
    for size in np.unique(sizes):
        members = np.stack([order[a:a + size] for a in starts[sizes == size]])     # (blocks, size)
        out.append(np.linalg.eigvalsh(H[members[:, :, None], members[:, None, :]]).ravel())
    return np.sort(np.concatenate(out))


# --- the spherical p-spin model: theory ---------------------------------------------

def semicircle_cdf(x):
    r"""Cumulative distribution of Wigner's semicircle law on :math:`[-1, 1]`.

    .. math::

        \Phi_{\mathrm{sc}}(x) = \frac12 + \frac{x\sqrt{1-x^2} + \arcsin x}{\pi}
        \quad (|x| \le 1),

    0 below :math:`-1` and 1 above :math:`1`: the fraction of eigenvalues of a
    large GOE matrix, scaled to the unit radius, that lie below :math:`x`.
    """
    x = v.real_array("x", x)
    c = np.clip(x, -1.0, 1.0)
    return v.scalar_or_array(0.5 + (c * np.sqrt(1.0 - c * c) + np.arcsin(c)) / np.pi)


def _p(p):
    return v.integer("p", p, lo=2)


def pspin_threshold(p=3):
    r""":math:`E_\infty = 2\sqrt{(p-1)/p}`: the energy per spin below which critical points are minima.

    At :math:`u = -E_\infty` the shifted semicircle of the Hessian touches zero
    from above (chapter *Saddle points*, eq. ``eq-sp-index``); at large
    :math:`n` almost all local minima lie in :math:`[-E_0, -E_\infty]`
    (:func:`pspin_ground_energy`).
    """
    p = _p(p)
    return 2.0 * math.sqrt((p - 1) / p)


def pspin_index(u, p=3):
    r"""The index fraction :math:`\alpha(u) = \Phi_{\mathrm{sc}}(u/E_\infty)` of a critical point of energy per spin ``u``.

    At a critical point :math:`\sigma` of energy :math:`H(\sigma) = nu` the
    Riemannian Hessian of the spherical p-spin model is, on the tangent
    space, :math:`\sqrt{p(p-1)}\,M - pu\,I` with :math:`M` a GOE matrix whose
    semicircle has radius 2 (Auffinger, Ben Arous & Černý 2013). A fraction
    :math:`\Phi_{\mathrm{sc}}(pu/(2\sqrt{p(p-1)})) = \Phi_{\mathrm{sc}}(u/E_\infty)`
    of its eigenvalues is negative. This is the large-:math:`n` law; at finite
    :math:`n` the index fluctuates around it by about one eigenvalue.

    Parameters
    ----------
    u : float or array_like
        Energy per spin.
    p : int, optional
        Order of the interaction, :math:`p \ge 2`.
    """
    u = v.real_array("u", u)
    return semicircle_cdf(u / pspin_threshold(p))


def _i1(u, e_inf):
    """The GOE large-deviation cost I_1(u) of one eigenvalue pulled out of the bulk (u <= -E_inf)."""
    root = math.sqrt(max(u * u - e_inf * e_inf, 0.0))
    return -u / e_inf**2 * root - math.log(-u + root) + math.log(e_inf)


def _complexity_k(u, p, k):
    """Auffinger-Ben Arous-Cerny complexity of critical points of index k at energy u <= -E_inf."""
    e_inf = 2.0 * math.sqrt((p - 1) / p)
    return 0.5 * math.log(p - 1) - (p - 2) / (4 * (p - 1)) * u * u - (k + 1) * _i1(u, e_inf)


def pspin_complexity(u, p=3, index=None):
    r"""The large-:math:`n` complexity :math:`\Sigma(u)`: the expected number of critical points near energy ``u`` grows as :math:`e^{n\Sigma(u)}`.

    By the Kac–Rice formula (:func:`pspin_kac_rice_density`) the density of
    critical points at energy per spin :math:`u` is, at large :math:`n`,
    :math:`e^{n\Sigma(u)}` with (Auffinger, Ben Arous & Černý 2013; chapter
    *Saddle points*, eq. ``eq-sp-complexity``)

    .. math::

        \Sigma(u) = \tfrac12\log(p-1) - \frac{p-2}{4(p-1)}u^2
        - I_1(|u|)\,\mathbb 1\{|u| > E_\infty\},

        I_1(u) = -\frac{u}{E_\infty^2}\sqrt{u^2 - E_\infty^2}
        - \log\bigl(-u + \sqrt{u^2 - E_\infty^2}\bigr) + \log E_\infty
        \quad (u \le -E_\infty) .

    The first two terms are the volume of the sphere, the Gaussian weight of
    the energy and :math:`\log\mathbb E|\det\operatorname{Hess}|`, the log
    potential of the shifted semicircle; :math:`I_1` is the cost of pulling
    the lowest eigenvalue out of the bulk, which a critical point below
    :math:`-E_\infty` needs. With ``index=k`` only the critical points of
    index :math:`k` (a finite number of negative eigenvalues) are counted:
    below :math:`-E_\infty` they need :math:`k + 1` eigenvalues out of the
    bulk,

    .. math::

        \Sigma_k(u) = \tfrac12\log(p-1) - \frac{p-2}{4(p-1)}u^2 - (k+1)\,I_1(u)
        \quad (u \le -E_\infty),

    and above :math:`-E_\infty` a finite index would need a macroscopic part
    of the bulk moved, which costs of order :math:`n^2`: :math:`\Sigma_k =
    -\infty` there. Where :math:`\Sigma < 0` the expected number vanishes
    exponentially.

    Parameters
    ----------
    u : float or array_like
        Energy per spin.
    p : int, optional
        Order of the interaction, :math:`p \ge 2`.
    index : int, optional
        Count only critical points of this index, :math:`\ge 0`; all by default.
    """
    p = _p(p)
    u = v.real_array("u", u)
    if index is not None:
        index = v.integer("index", index, lo=0)
    e_inf = pspin_threshold(p)
    out = np.empty(u.shape)
    for i, x in np.ndenumerate(u):
        if index is None:
            out[i] = _complexity_k(-abs(x), p, 0) if abs(x) > e_inf else (
                0.5 * math.log(p - 1) - (p - 2) / (4 * (p - 1)) * x * x)
        else:
            out[i] = _complexity_k(x, p, index) if x <= -e_inf else -np.inf
    return v.scalar_or_array(out)


def pspin_index_edge(k, p=3):
    r"""The energy :math:`E_k > 0` such that, at large :math:`n`, no critical point of index ``k`` lies below :math:`-E_k`.

    The zero of :math:`\Sigma_k` (:func:`pspin_complexity`) below
    :math:`-E_\infty`. Minima (:math:`k = 0`) fill :math:`[-E_0, -E_\infty]`,
    saddles of index 1 fill :math:`[-E_1, -E_\infty]`, and so on:
    :math:`E_0 > E_1 > E_2 > \dots > E_\infty`, so the band above the ground
    state holds minima and saddles of every finite index, in layers
    (Auffinger, Ben Arous & Černý 2013). :math:`E_0` is
    :func:`pspin_ground_energy`.

    Parameters
    ----------
    k : int
        Index, :math:`\ge 0`.
    p : int, optional
        Order of the interaction, :math:`p \ge 3` (for :math:`p = 2` there are
        only two critical points of each index).
    """
    k = v.integer("k", k, lo=0)
    p = v.integer("p", p, lo=3)
    return _edge(k, p)


def _edge(k, p):
    e_inf = 2.0 * math.sqrt((p - 1) / p)
    hi = e_inf
    while _complexity_k(-hi, p, k) > 0:
        hi *= 1.5
    return float(optimize.brentq(lambda e: _complexity_k(-e, p, k), e_inf, hi, xtol=1e-12))


def pspin_ground_energy(p=3):
    r"""The ground-state energy per spin :math:`-E_0` of the spherical p-spin model, returned as :math:`E_0 > 0`.

    The number of local minima at energy per spin :math:`u < -E_\infty` grows
    as :math:`e^{n\Sigma_0(u)}` (:func:`pspin_complexity` with ``index=0``;
    Auffinger, Ben Arous & Černý 2013), and :math:`-E_0` is the energy where
    :math:`\Sigma_0` vanishes: below it there are no minima at large
    :math:`n`. For :math:`p = 3`, :math:`E_0 \approx 1.657`. Choromanska et
    al. (2015) read the narrow band :math:`[-E_0, -E_\infty]` as the reason
    why the local minima of large networks have similar losses; saddles of
    low index share the band (:func:`pspin_index_edge`). Defined for
    :math:`p \ge 3` (for :math:`p = 2` the band is empty and there are only
    two minima).
    """
    p = v.integer("p", p, lo=3)
    return _edge(0, p)


_MAX_KAC_RICE = 4 * 10**6


def pspin_kac_rice_density(u, n, p=3, index=None, n_samples=4000, rng=None):
    r"""The expected number of critical points per unit energy per spin at finite ``n``, by the Kac–Rice formula.

    The Kac–Rice formula counts the zeros of the Riemannian gradient, each
    weighted by :math:`|\det\operatorname{Hess}|`. On the sphere of radius
    :math:`\sqrt n` every point is alike, and at one point the energy per spin
    :math:`u \sim N(0, 1/n)`, the :math:`n - 1` tangent components of the
    gradient (i.i.d. :math:`N(0, p)`) and the tangent Hessian of
    :math:`\nabla^2 H` (a GOE matrix :math:`M` with off-diagonal variance
    :math:`p(p-1)/n`) are independent, so (chapter *Saddle points*, eq.
    ``eq-sp-kac-rice``)

    .. math::

        \rho_n(u) = \lvert S^{n-1}(\sqrt n)\rvert\,(2\pi p)^{-(n-1)/2}
        \sqrt{\frac{n}{2\pi}}\,e^{-nu^2/2}\;
        \mathbb E_M\bigl|\det(M - pu\,I)\bigr| ,

    with :math:`|S^{n-1}(r)| = 2\pi^{n/2}r^{n-1}/\Gamma(n/2)`. This is exact
    at every :math:`n`; only the GOE average is estimated, by Monte Carlo over
    ``n_samples`` matrices shared by all ``u``. With ``index=k`` the average
    keeps only the matrices with exactly :math:`k` eigenvalues below
    :math:`pu`, which counts the critical points of index :math:`k`.
    :math:`\frac1n\log\rho_n(u) \to \Sigma(u)` (:func:`pspin_complexity`).

    Parameters
    ----------
    u : float or array_like
        Energies per spin.
    n : int
        Number of spins, :math:`n \ge 2`.
    p : int, optional
        Order of the interaction, :math:`p \ge 2`.
    index : int, optional
        Count only critical points of this index, :math:`0 \le k \le n - 1`.
    n_samples : int, optional
        GOE matrices in the average, :math:`\ge 2`, with
        ``n_samples * n**2`` at most :math:`4\times 10^6`.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    density : float or ndarray
        :math:`\rho_n(u)`, shaped like ``u``.
    standard_error : float or ndarray
        The Monte-Carlo standard error of each value.
    """
    u = v.real_array("u", u)
    n = v.integer("n", n, lo=2)
    p = _p(p)
    if index is not None:
        index = v.integer("index", index, lo=0, hi=n - 1)
    n_samples = v.integer("n_samples", n_samples, lo=2)
    if n_samples * n * n > _MAX_KAC_RICE:
        raise ValueError(f"n_samples * n**2 must be at most {_MAX_KAC_RICE:.0e}, got n_samples={n_samples}, n={n}")
    rng = v.as_generator(rng)
    m = n - 1
    A = rng.standard_normal((n_samples, m, m))
    ev = np.linalg.eigvalsh((A + A.transpose(0, 2, 1)) * math.sqrt(p * (p - 1) / (2 * n)))
    log_prefactor = (math.log(2.0) + 0.5 * n * math.log(math.pi) - special.gammaln(0.5 * n)
                     + 0.5 * (n - 1) * math.log(n) - 0.5 * (n - 1) * math.log(2 * math.pi * p)
                     + 0.5 * math.log(n / (2 * math.pi)))
    density, error = np.empty(u.shape), np.empty(u.shape)
    for i, x in np.ndenumerate(u):
        shifted = ev - p * x
        det = np.exp(np.sum(np.log(np.abs(shifted)), axis=1))
        if index is not None:
            det = det * (np.sum(shifted < 0, axis=1) == index)
        weight = math.exp(log_prefactor - 0.5 * n * x * x)
        density[i] = weight * det.mean()
        error[i] = weight * det.std(ddof=1) / math.sqrt(n_samples)
    return v.scalar_or_array(density), v.scalar_or_array(error)


# --- the spherical p-spin model: simulation -----------------------------------------

_MAX_COUPLINGS = 10**7


def pspin_couplings(n, p=3, rng=None):
    r"""A symmetric Gaussian coupling tensor :math:`J` of the spherical p-spin Hamiltonian.

    :math:`H(\sigma) = \sum_{i_1\dots i_p} J_{i_1\dots i_p}\sigma_{i_1}\cdots
    \sigma_{i_p}` on the sphere :math:`\lVert\sigma\rVert^2 = n`, with
    :math:`J` the symmetrised tensor of i.i.d. Gaussians of variance
    :math:`n^{1-p}`, so that

    .. math::

        \mathbb E[H(\sigma)H(\sigma')] = n\,(\sigma\cdot\sigma'/n)^p .

    (Symmetrising changes no value of :math:`H`; it makes the derivatives
    simple.)

    Parameters
    ----------
    n : int
        Number of spins, :math:`n \ge 2`, with :math:`n^p \le 10^7`.
    p : int, optional
        Order of the interaction, :math:`p \ge 2`.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ndarray, shape (n,) * p
    """
    n = v.integer("n", n, lo=2)
    p = _p(p)
    if n**p > _MAX_COUPLINGS:
        raise ValueError(f"n**p must be at most {_MAX_COUPLINGS:.0e} entries, got n={n}, p={p}")
    G = v.as_generator(rng).standard_normal((n,) * p)
    J = sum(np.transpose(G, perm) for perm in itertools.permutations(range(p)))
    return J * (n ** ((1 - p) / 2) / math.factorial(p))


def _couplings(couplings):
    J = np.asarray(couplings, dtype=float)
    if J.ndim < 2 or len(set(J.shape)) != 1 or J.shape[0] < 2:
        raise ValueError(f"couplings must be an n x n x ... tensor with p >= 2 equal axes, got shape {J.shape}")
    if not np.all(np.isfinite(J)):
        raise ValueError("couplings must contain only finite values")
    return J


def _on_sphere(sigma, n):
    s = v.real_array("sigma", sigma)
    if s.shape != (n,):
        raise ValueError(f"sigma must have shape ({n},) to match the couplings, got {s.shape}")
    norm2 = float(s @ s)
    if abs(norm2 - n) > 1e-6 * n:
        raise ValueError(f"sigma must lie on the sphere |sigma|^2 = n = {n}, got |sigma|^2 = {norm2:g}")
    return s


def _contract(J, s):
    """M = J . s^(p-2), v = M s, H = v . s."""
    M = J
    for _ in range(J.ndim - 2):
        M = M @ s
    vec = M @ s
    return M, vec, float(vec @ s)


def pspin_energy(sigma, couplings):
    r"""The energy per spin :math:`u = H(\sigma)/n` of a point on the sphere :math:`\lVert\sigma\rVert^2 = n`."""
    J = _couplings(couplings)
    s = _on_sphere(sigma, J.shape[0])
    return _contract(J, s)[2] / J.shape[0]


def _tangent_basis(s):
    """Orthonormal basis (n, n-1) of the plane orthogonal to s: a Householder reflection sending e_1 to s/|s|."""
    n = s.size
    unit = s / np.linalg.norm(s)
    w = unit.copy()
    w[0] -= 1.0
    if np.linalg.norm(w) < 1e-12:          # s already along e_1
        return np.eye(n)[:, 1:]
    R = np.eye(n) - 2.0 * np.outer(w, w) / (w @ w)
    return R[:, 1:]


def _riemannian(J, s):
    p, n = J.ndim, s.size
    M, vec, H = _contract(J, s)
    Q = _tangent_basis(s)
    grad = p * vec
    radial = grad @ s / n                    # = p H / n
    hess = Q.T @ (p * (p - 1) * M) @ Q - radial * np.eye(n - 1)
    return H / n, Q.T @ grad, hess, Q


def pspin_riemannian(sigma, couplings):
    r"""Energy per spin, Riemannian gradient and Riemannian Hessian of :math:`H` at ``sigma``.

    With :math:`\nabla H = pJ\sigma^{p-1}` and :math:`\nabla^2 H =
    p(p-1)J\sigma^{p-2}`, the gradient and Hessian of :math:`H` restricted to
    the sphere of radius :math:`\sqrt n` are, on its tangent space,

    .. math::

        \operatorname{grad} H = P\nabla H, \qquad
        \operatorname{Hess} H = P\Bigl(\nabla^2 H - \frac{\sigma\cdot\nabla H}{n}
        I\Bigr)P, \qquad P = I - \sigma\sigma^\top/n .

    The second term is the sphere's curvature; at a critical point
    :math:`\sigma\cdot\nabla H/n = pu`. Both are returned in an orthonormal
    basis :math:`Q` of the tangent space (the radial direction, a
    meaningless exact zero mode of :math:`P(\cdot)P`, is dropped).

    Returns
    -------
    energy : float
        :math:`u = H/n`.
    grad : ndarray, shape (n - 1,)
        :math:`Q^\top\nabla H`.
    hess : ndarray, shape (n - 1, n - 1)
        :math:`Q^\top(\nabla^2 H - pu\,I)Q`, symmetric.
    basis : ndarray, shape (n, n - 1)
        :math:`Q`, orthonormal columns orthogonal to ``sigma``.
    """
    J = _couplings(couplings)
    s = _on_sphere(sigma, J.shape[0])
    return _riemannian(J, s)


def _normalise(s):
    return s * (math.sqrt(s.size) / np.linalg.norm(s))


def _critical_point(J, s, max_iter=200, gtol=1e-9):
    """Levenberg-Marquardt-stabilised Riemannian Newton from s; (s, u, |grad|, hess eigenvalues)."""
    n = s.size
    u, g, h, Q = _riemannian(J, s)
    gnorm, mu = np.linalg.norm(g), 1.0
    for _ in range(max_iter):
        if gnorm < gtol * math.sqrt(n):
            break
        step = -np.linalg.solve(h @ h + mu * np.eye(n - 1), h @ g)
        s_new = _normalise(s + Q @ step)
        u_new, g_new, h_new, Q_new = _riemannian(J, s_new)
        if np.linalg.norm(g_new) < gnorm:
            s, u, g, h, Q = s_new, u_new, g_new, h_new, Q_new
            gnorm, mu = np.linalg.norm(g), max(mu / 10.0, 1e-12)
        else:
            mu *= 10.0
            if mu > 1e12:
                break
    return s, u, gnorm, np.linalg.eigvalsh(h)


def pspin_critical_points(couplings, n_starts, rng=None, levels=None, lr=0.01, max_descent=400,
                          return_sigma=False):
    r"""Distinct critical points of a spherical p-spin landscape, as ``(energy_per_spin, index_fraction)``.

    Following Dauphin et al. (2014), critical points are found by Newton's
    method, which converges to critical points of any index, started from
    points along gradient-descent runs. Each of ``n_starts`` runs starts at a
    uniformly random point of the sphere and descends by Riemannian gradient
    steps; each time its energy per spin first falls below one of ``levels``,
    a Newton search starts from the current point. Without descent
    (``levels=()``), Newton starts from the random points themselves, and finds
    mostly saddles of index near :math:`\tfrac12` at :math:`u \approx 0`,
    where most critical points are.

    Plain Newton from far away diverges more often than not (it converged
    from 26 of 425 starts in our tests), so each Newton step is damped
    Levenberg–Marquardt style, :math:`\xi = -(h^2 + \mu I)^{-1}h\,g`, with
    :math:`\mu` divided by 10 after a step that lowers :math:`\lVert
    g\rVert` and multiplied by 10 otherwise. As :math:`\mu \to 0` this is
    Newton's step :math:`-h^{-1}g`, so convergence is quadratic and the
    search is not biased towards minima. Points are kept when
    :math:`\lVert\operatorname{grad} H\rVert < 10^{-9}\sqrt n`, and are
    distinct when they differ by more than :math:`10^{-4}\sqrt n`.

    The index is counted on the :math:`n-1` tangent directions, with
    :func:`hessian_index` (the radial direction is not a direction of the
    landscape).

    Parameters
    ----------
    couplings : ndarray
        From :func:`pspin_couplings`.
    n_starts : int
        Number of random starting points, :math:`\ge 1`.
    rng : None, int or numpy.random.Generator
    levels : array_like, optional
        Energies per spin at which Newton searches start along each descent;
        by default 17 levels from 0 down to :math:`-0.98E_\infty`. ``()``
        starts Newton from the random points only.
    lr : float, optional
        Step size of the Riemannian gradient descent, :math:`> 0`.
    max_descent : int, optional
        Longest descent, in steps.
    return_sigma : bool, optional
        Also return the critical points themselves.

    Returns
    -------
    energy : ndarray
        Energies per spin, in increasing order.
    index : ndarray
        Index fractions, the number of negative eigenvalues over :math:`n-1`.
    sigma : ndarray, shape (n_found, n)
        Only with ``return_sigma=True``.
    """
    J = _couplings(couplings)
    n, p = J.shape[0], J.ndim
    n_starts = v.integer("n_starts", n_starts, lo=1)
    rng = v.as_generator(rng)
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    max_descent = v.integer("max_descent", max_descent, lo=1)
    if levels is None:
        levels = -pspin_threshold(p) * np.linspace(0.0, 0.98, 17)
    levels = np.sort(v.real_array("levels", levels).ravel())[::-1]
    found = []
    for _ in range(n_starts):
        s = _normalise(rng.standard_normal(n))
        starts = [s] if levels.size == 0 else []
        nxt = 0
        for _ in range(max_descent if levels.size else 0):
            u, g, _, Q = _riemannian(J, s)
            if u <= levels[nxt]:
                while nxt < levels.size and u <= levels[nxt]:
                    nxt += 1
                starts.append(s.copy())
                if nxt == levels.size:
                    break
            s = _normalise(s - lr * (Q @ g))
        for s0 in starts:
            sc, u, gnorm, ev = _critical_point(J, s0)
            if gnorm < 1e-9 * math.sqrt(n) and all(np.linalg.norm(sc - f[2]) > 1e-4 * math.sqrt(n) for f in found):
                found.append((u, hessian_index(ev)[0] / (n - 1), sc))
    found.sort(key=lambda f: f[0])
    energy = np.array([f[0] for f in found])
    index = np.array([f[1] for f in found])
    if return_sigma:
        return energy, index, np.array([f[2] for f in found]).reshape(len(found), n)
    return energy, index


def _bordered_residual(J, S, lam):
    """Residual of (grad H = lam sigma, |sigma|^2 = n) and its Jacobian, for a batch of points S (B, n)."""
    p = J.ndim
    B, n = S.shape
    if p == 2:
        M = np.broadcast_to(J, (B, n, n))
    else:
        M = np.tensordot(S, J, axes=([1], [p - 1]))      # J . s, shape (B, n, ..., n)
        for _ in range(p - 3):
            M = np.einsum("b...k,bk->b...", M, S)        # down to J . s^(p-2), (B, n, n)
    vec = np.einsum("bij,bj->bi", M, S)
    F = np.empty((B, n + 1))
    F[:, :n] = p * vec - lam[:, None] * S
    F[:, n] = 0.5 * (np.sum(S * S, axis=1) - n)
    jac = np.zeros((B, n + 1, n + 1))
    jac[:, :n, :n] = p * (p - 1) * M
    jac[:, np.arange(n), np.arange(n)] -= lam[:, None]
    jac[:, :n, n] = -S
    jac[:, n, :n] = S
    return F, jac


def _batched_critical_points(J, S, max_iter, tol):
    """Levenberg-Marquardt on the bordered system from every row of S at once; (points, residual norms)."""
    n = S.shape[1]
    S = S.copy()
    F, jac = _bordered_residual(J, S, np.zeros(S.shape[0]))
    lam = np.sum(F[:, :n] * S, axis=1) / n                # the multiplier that best fits the start
    F, jac = _bordered_residual(J, S, lam)
    f2, mu, eye = np.sum(F * F, axis=1), np.ones(S.shape[0]), np.eye(n + 1)
    for _ in range(max_iter):
        active = np.flatnonzero(f2 > tol * tol)
        if active.size == 0:
            break
        Ja, Fa = jac[active], F[active]
        lhs = np.einsum("bki,bkj->bij", Ja, Ja) + mu[active, None, None] * eye
        step = -np.linalg.solve(lhs, np.einsum("bki,bk->bi", Ja, Fa)[..., None])[..., 0]
        S_new, lam_new = S[active] + step[:, :n], lam[active] + step[:, n]
        F_new, jac_new = _bordered_residual(J, S_new, lam_new)
        f2_new = np.sum(F_new * F_new, axis=1)
        better = f2_new < f2[active]
        a = active[better]
        S[a], lam[a], F[a], jac[a], f2[a] = S_new[better], lam_new[better], F_new[better], jac_new[better], f2_new[better]
        mu[a] = np.maximum(mu[a] / 10.0, 1e-12)
        mu[active[~better]] *= 10.0
    return S, np.sqrt(f2)


def pspin_census(couplings, n_starts, rng=None, max_iter=60):
    r"""As many distinct critical points of a small spherical p-spin landscape as ``n_starts`` Newton searches find.

    A census for sizes small enough that the expected number of critical
    points, :math:`\int\rho_n(u)\,du` (:func:`pspin_kac_rice_density`), is a
    few hundred. The critical points on the sphere are the solutions of
    :math:`\nabla H(\sigma) = \lambda\sigma`, :math:`\lVert\sigma\rVert^2 =
    n`. All ``n_starts`` uniformly random starts are solved at once by a
    Levenberg–Marquardt iteration on this bordered system of :math:`n + 1`
    equations (as :math:`\mu \to 0` it is Newton's method, which converges to
    critical points of every index). For odd :math:`p`,
    :math:`H(-\sigma) = -H(\sigma)`, so every critical point found also gives
    its mirror image, of energy :math:`-u` and index :math:`n - 1 - k`.
    Points are kept when their Riemannian gradient is below
    :math:`10^{-8}\sqrt n` and are distinct when they differ by more than
    :math:`10^{-4}\sqrt n`. Whether the census is complete is for the caller
    to check, for instance by comparing it with one from half the starts.

    Parameters
    ----------
    couplings : ndarray
        From :func:`pspin_couplings`.
    n_starts : int
        Number of random starts, :math:`1 \le` ``n_starts`` :math:`\le 10^5`.
    rng : None, int or numpy.random.Generator
    max_iter : int, optional
        Iterations of each search, :math:`\ge 1`.

    Returns
    -------
    energy : ndarray
        Energies per spin of the distinct critical points, increasing.
    index : ndarray of int
        The number of negative Riemannian Hessian eigenvalues of each.
    first_found : ndarray of int
        For each point, the first start that found it (or its mirror image),
        so that ``first_found < m`` is the census from the first ``m`` starts.
    """
    J = _couplings(couplings)
    n, p = J.shape[0], J.ndim
    n_starts = v.integer("n_starts", n_starts, lo=1, hi=10**5)
    max_iter = v.integer("max_iter", max_iter, lo=1)
    rng = v.as_generator(rng)
    S0 = rng.standard_normal((n_starts, n))
    S0 *= math.sqrt(n) / np.linalg.norm(S0, axis=1, keepdims=True)
    S, residual = _batched_critical_points(J, S0, max_iter, tol=1e-10 * math.sqrt(n))
    start = np.flatnonzero(residual < 1e-8 * math.sqrt(n))
    S = S[start]
    if p % 2 == 1:
        S, start = np.concatenate([S, -S]), np.concatenate([start, start])
    S *= math.sqrt(n) / np.linalg.norm(S, axis=1, keepdims=True)
    # Clusters of one critical point are far tighter than the distance between two:
    # order by the start that found each copy, keep the first of every cluster.
    order = np.argsort(start, kind="stable")
    S, start = S[order], start[order]
    pairs = cKDTree(S).query_pairs(1e-4 * math.sqrt(n), output_type="ndarray")
    duplicate = np.zeros(len(S), dtype=bool)
    duplicate[pairs.max(axis=1) if pairs.size else []] = True
    energy, index, first = [], [], []
    for s, k in zip(S[~duplicate], start[~duplicate]):
        u, g, h, _ = _riemannian(J, s)
        if np.linalg.norm(g) < 1e-8 * math.sqrt(n):
            energy.append(u)
            index.append(int(np.sum(np.linalg.eigvalsh(h) < 0)))
            first.append(int(k))
    order = np.argsort(energy)
    return (np.array(energy)[order], np.array(index, dtype=int)[order],
            np.array(first, dtype=int)[order])


# --- the linear autoencoder ---------------------------------------------------------

_MAX_SUBSETS = 10**6


def linear_autoencoder_critical_points(eigenvalues, k):
    r"""Every critical point of the linear autoencoder, as ``(subset, loss, index)``, sorted by loss.

    The autoencoder :math:`x \mapsto BAx` with :math:`A \in \mathbb
    R^{k\times n}`, :math:`B \in \mathbb R^{n\times k}` and loss
    :math:`\mathcal L = \tfrac12\mathbb E\lVert x - BAx\rVert^2 = \tfrac12
    \operatorname{tr}[(I - BA)\Sigma(I - BA)^\top]` has, for a covariance
    :math:`\Sigma` with distinct eigenvalues :math:`\lambda_1 > \dots >
    \lambda_n`, critical points (with :math:`A` of full rank) exactly where
    :math:`BA` projects on the span of a set :math:`S` of :math:`k`
    eigenvectors (Baldi & Hornik 1989). There (chapter *Saddle points*,
    eq. ``eq-sp-autoencoder``)

    .. math::

        \mathcal L_S = \frac12\sum_{i\notin S}\lambda_i, \qquad
        \operatorname{index}(S) = \#\{(i, j) : i \in S,\ j \notin S,\
        \lambda_j > \lambda_i\},

    since each such pair is a direction that swaps a retained direction
    for a stronger one and lowers the loss. The only minimum is :math:`S =
    \{1,\dots,k\}`. Each critical point also has :math:`k^2` zero modes from
    :math:`A \to GA`, :math:`B \to BG^{-1}`, and :math:`k` more for every
    direction of zero variance.

    Parameters
    ----------
    eigenvalues : array_like, shape (n,)
        Eigenvalues of :math:`\Sigma` in descending order, non-negative.
    k : int
        Width of the bottleneck, :math:`1 \le k \le n-1`.

    Returns
    -------
    list of (tuple of int, float, int)
        ``subset`` (sorted indices into ``eigenvalues``), ``loss`` and
        ``index``, ordered by loss (ties by subset).
    """
    lam = _descending_eigenvalues(eigenvalues)
    n = lam.size
    k = v.integer("k", k, lo=1, hi=n - 1)
    if math.comb(n, k) > _MAX_SUBSETS:
        raise ValueError(f"k={k} of n={n} gives {math.comb(n, k)} critical points, more than {_MAX_SUBSETS:.0e}")
    total = lam.sum()
    points = []
    for S in itertools.combinations(range(n), k):
        idx = np.array(S)
        out = np.ones(n, dtype=bool)
        out[idx] = False
        index = int(np.sum(lam[out][None, :] > lam[idx][:, None]))
        points.append((S, float(0.5 * (total - lam[idx].sum())), index))
    points.sort(key=lambda c: (c[1], c[0]))
    return points


def _descending_eigenvalues(eigenvalues):
    lam = v.real_array("eigenvalues", eigenvalues, lo=0.0)
    if lam.ndim != 1 or lam.size < 2:
        raise ValueError(f"eigenvalues must be a 1-d array of at least 2 values, got shape {lam.shape}")
    if np.any(np.diff(lam) > 0):
        raise ValueError("eigenvalues must be in descending order")
    return lam


def linear_autoencoder_zero_modes(eigenvalues, subset):
    r"""The number of zero Hessian eigenvalues of the linear autoencoder at the critical point ``subset``.

    In the eigenbasis of :math:`\Sigma` the Hessian at the critical point
    :math:`S` splits into small blocks (chapter *Saddle points*):

    * for each retained pair :math:`(c, b)` of bottleneck units, the form
      :math:`\lambda_{S_b}(\delta A_{c S_b} + \delta B_{S_c b})^2`, which has
      one zero eigenvalue (the :math:`k^2` directions of the symmetry
      :math:`A \to GA`, :math:`B \to BG^{-1}`) and a second one when
      :math:`\lambda_{S_b} = 0`;
    * for each :math:`i \in S` and :math:`j \notin S`, the pair
      :math:`(\delta A_{ij}, \delta B_{ji})` with matrix
      :math:`\begin{pmatrix}\lambda_j & -\lambda_j\\ -\lambda_j & \lambda_i
      \end{pmatrix}`, of determinant :math:`\lambda_j(\lambda_i -
      \lambda_j)`: one negative eigenvalue when :math:`\lambda_j >
      \lambda_i` (the index), one zero when :math:`\lambda_j = 0 <
      \lambda_i` or :math:`\lambda_j = \lambda_i > 0`, two when both vanish.

    So the count is :math:`k^2 + k\,\#\{i \in S: \lambda_i = 0\}` plus the
    zeros of the pair blocks. Zero eigenvalues must be exactly zero here
    (directions of no variance, such as pixels that are blank in every image).

    Parameters
    ----------
    eigenvalues : array_like, shape (n,)
        Descending, non-negative.
    subset : sequence of int
        The retained directions, :math:`1 \le k \le n-1` distinct indices.
    """
    lam = _descending_eigenvalues(eigenvalues)
    n = lam.size
    try:
        S = sorted({int(i) for i in subset})
    except (TypeError, ValueError):
        raise ValueError(f"subset must be a sequence of integer indices, got {subset!r}") from None
    if len(S) != len(subset) or not 1 <= len(S) <= n - 1 or S[0] < 0 or S[-1] >= n:
        raise ValueError(f"subset must hold 1 to {n - 1} distinct indices in [0, {n - 1}], got {subset!r}")
    k = len(S)
    inside = lam[S]
    outside = np.delete(lam, S)
    both_zero = np.sum((inside[:, None] == 0) & (outside[None, :] == 0))
    one_zero = np.sum((inside[:, None] > 0) & ((outside[None, :] == 0) | (outside[None, :] == inside[:, None])))
    return int(k * k + k * np.sum(inside == 0) + 2 * both_zero + one_zero)


def linear_autoencoder_hessian(A, B, sigma):
    r"""The exact Hessian of the linear autoencoder's loss with respect to :math:`(A, B)`.

    For :math:`\mathcal L = \tfrac12\operatorname{tr}\Sigma -
    \operatorname{tr}(BA\Sigma) + \tfrac12\operatorname{tr}(BA\Sigma
    A^\top B^\top)` the gradients are :math:`\partial_A\mathcal L =
    B^\top(BA - I)\Sigma` and :math:`\partial_B\mathcal L = (BA -
    I)\Sigma A^\top`, and, with parameters flattened row by row (first
    :math:`A`, then :math:`B`),

    .. math::

        H_{AA} = B^\top B\otimes\Sigma, \quad
        H_{BB} = I_n\otimes A\Sigma A^\top, \quad
        (H_{AB})_{ac,bd} = \delta_{ad}(BA\Sigma - \Sigma)_{bc} + B_{ba}(A\Sigma)_{dc} .

    It is the independent check of :func:`linear_autoencoder_critical_points`
    (and is tested against finite differences).

    Parameters
    ----------
    A : array_like, shape (k, n)
    B : array_like, shape (n, k)
    sigma : array_like, shape (n, n)
        Symmetric covariance of the inputs.

    Returns
    -------
    ndarray, shape (2nk, 2nk)
    """
    A, B, S = v.matrix("A", A), v.matrix("B", B), v.matrix("sigma", sigma)
    k, n = A.shape
    if B.shape != (n, k):
        raise ValueError(f"B must have shape ({n}, {k}) to match A, got {B.shape}")
    if S.shape != (n, n) or not np.allclose(S, S.T):
        raise ValueError(f"sigma must be a symmetric ({n}, {n}) matrix")
    AS = A @ S
    H_AA = np.kron(B.T @ B, S)
    H_BB = np.kron(np.eye(n), AS @ A.T)
    H_AB = (np.einsum("ad,bc->acbd", np.eye(k), B @ AS - S)
            + np.einsum("ba,dc->acbd", B, AS)).reshape(k * n, n * k)
    return np.block([[H_AA, H_AB], [H_AB.T, H_BB]])


# --- optimisers near saddles ----------------------------------------------------------

def toy_saddle(point):
    r"""Loss, gradient and Hessian of the two-dimensional landscape :math:`f = x^2/2 - y^2/2 + y^4/4`.

    A saddle at the origin (eigenvalues :math:`1` and :math:`-1`) between two
    minima at :math:`(0, \pm 1)`, :math:`f = -\tfrac14`: the smallest landscape
    on which gradient descent, Newton and saddle-free Newton differ.

    Returns
    -------
    tuple
        ``(f, grad, hess)`` with shapes ``()``, ``(2,)`` and ``(2, 2)``.
    """
    pt = v.real_array("point", point)
    if pt.shape != (2,):
        raise ValueError(f"point must be a pair (x, y), got shape {pt.shape}")
    x, y = pt
    f = 0.5 * x * x - 0.5 * y * y + 0.25 * y**4
    return f, np.array([x, -y + y**3]), np.array([[1.0, 0.0], [0.0, -1.0 + 3.0 * y * y]])


def _check_pair(g, H, d=None):
    g = v.real_array("g", g)
    if g.ndim != 1 or (d is not None and g.size != d):
        raise ValueError(f"g must be a gradient of shape ({d if d is not None else 'd'},), got {g.shape}")
    H = v.matrix("H", H)
    if H.shape != (g.size, g.size):
        raise ValueError(f"H must have shape ({g.size}, {g.size}) to match the gradient, got {H.shape}")
    if not np.allclose(H, H.T, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(H).max())):
        raise ValueError("H must be symmetric")
    return g, 0.5 * (H + H.T)


def _sfn_step(g, H, damping):
    ev, V = np.linalg.eigh(H)
    scale = np.abs(ev) + damping
    if np.min(scale) == 0:
        raise ValueError("H is singular and damping is 0: pass damping > 0")
    return -V @ ((V.T @ g) / scale)


def saddle_free_step(g, H, damping=0.0):
    r"""The saddle-free Newton step :math:`\Delta\theta = -(|H| + \delta I)^{-1} g`.

    :math:`|H| = V|\Lambda|V^\top` takes the absolute value of every
    eigenvalue of :math:`H = V\Lambda V^\top`. Along a direction of positive
    curvature the step is Newton's; along one of negative curvature Newton
    would step *towards* the saddle (dividing by a negative number flips the
    sign), while this step moves away from it, downhill, as far as the
    curvature allows. Dauphin et al. (2014) obtain it as the minimiser of the
    first-order model of the loss within a trust region whose size is set by
    the second-order term, measured in :math:`|H|`. The damping
    :math:`\delta` bounds the step where :math:`|\lambda|` is tiny.

    Parameters
    ----------
    g : array_like, shape (d,)
        Gradient.
    H : array_like, shape (d, d)
        Symmetric Hessian.
    damping : float, optional
        :math:`\delta \ge 0`.
    """
    g, H = _check_pair(g, H)
    damping = v.real("damping", damping, lo=0.0)
    return _sfn_step(g, H, damping)


#: The optimisers of :func:`descend`.
METHODS = ("gd", "newton", "saddle_free")


def descend(grad, hess, x0, method, n_steps, lr=1.0, damping=0.0, loss=None):
    r"""Iterate gradient descent, Newton or saddle-free Newton from ``x0``.

    * ``"gd"``: :math:`x \leftarrow x - \eta\, g`;
    * ``"newton"``: :math:`x \leftarrow x - \eta\,(H + \delta I)^{-1} g`;
    * ``"saddle_free"``: :math:`x \leftarrow x - \eta\,(|H| + \delta I)^{-1} g`
      (:func:`saddle_free_step`).

    With ``loss`` given, each step is shortened by halving (at most 30
    times) until the loss decreases, a backtracking line search; when no
    halving helps, the iterate stays put. Newton is meant to run without
    it: it is a method for solving :math:`\nabla f = 0`, and a line search
    would only hide that it steers for the nearest critical point, saddles
    included.

    Parameters
    ----------
    grad, hess : callable
        ``grad(x)`` returns the gradient, shape (d,); ``hess(x)`` the
        symmetric Hessian, shape (d, d) (not called for ``"gd"``).
    x0 : array_like, shape (d,)
    method : str
        One of :data:`METHODS`.
    n_steps : int
        :math:`\ge 0`.
    lr : float, optional
        Step size :math:`\eta > 0`.
    damping : float, optional
        :math:`\delta \ge 0`.
    loss : callable, optional
        ``loss(x)``, for the line search.

    Returns
    -------
    ndarray, shape (n_steps + 1, d)
        The iterates, ``x0`` first.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if not callable(grad) or (method != "gd" and not callable(hess)):
        raise ValueError("grad and hess must be callables of the point")
    if loss is not None and not callable(loss):
        raise ValueError("loss must be None or a callable of the point")
    x = v.real_array("x0", x0)
    if x.ndim != 1:
        raise ValueError(f"x0 must be a 1-d array, got shape {x.shape}")
    n_steps = v.integer("n_steps", n_steps, lo=0)
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    damping = v.real("damping", damping, lo=0.0)
    path = np.empty((n_steps + 1, x.size))
    path[0] = x
    f = loss(x) if loss is not None else None
    for t in range(1, n_steps + 1):
        g = np.asarray(grad(x), dtype=float)
        if method == "gd":
            step = -g
            if g.shape != x.shape:
                raise ValueError(f"grad returned shape {g.shape}, expected {x.shape}")
        else:
            g, H = _check_pair(g, hess(x), x.size)
            if method == "newton":
                try:
                    step = -np.linalg.solve(H + damping * np.eye(x.size), g)
                except np.linalg.LinAlgError:
                    raise ValueError(f"H + damping I is singular at step {t}: raise damping") from None
            else:
                step = _sfn_step(g, H, damping)
        step = lr * step
        if loss is not None:
            for _ in range(30):
                f_new = loss(x + step)
                if f_new < f:
                    break
                step = 0.5 * step
            else:
                step, f_new = np.zeros_like(x), f
            f = f_new
        x = x + step
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{method} diverged at step {t}: lower lr={lr:g} or raise damping={damping:g}")
        path[t] = x
    return path


def critical_point_search(grad, hess, x0, max_iter=60, gtol=1e-10):
    r"""Search for a critical point of any index near ``x0`` by Levenberg–Marquardt steps on :math:`\tfrac12\lVert\nabla f\rVert^2`.

    Dauphin et al. (2014) located the critical points of small networks with
    Newton's method started from points along training paths. Newton's step
    :math:`-H^{-1}g` is the Gauss–Newton step for the residual :math:`g =
    \nabla f`, whose Jacobian is :math:`H`; damped in the Levenberg–Marquardt
    way it is

    .. math::

        \Delta\theta = -(H^2 + \mu I)^{-1} H g ,

    with :math:`\mu` divided by 10 after a step that lowers :math:`\lVert
    g\rVert` and multiplied by 10 otherwise. It is drawn to critical points of
    every index, but it also stops where :math:`\lVert g\rVert^2` has a local
    minimum that is not zero: where :math:`Hg = 0` with :math:`g \ne 0`, the
    *gradient-flat* points of Frye et al. (2021). So the caller must look at
    the returned gradient norm before calling the end a critical point.

    Parameters
    ----------
    grad, hess : callable
        ``grad(x)`` and the symmetric ``hess(x)``.
    x0 : array_like, shape (d,)
    max_iter : int, optional
        Steps at most, :math:`\ge 1`.
    gtol : float, optional
        Stop once :math:`\lVert g\rVert \le` ``gtol``, :math:`> 0`.

    Returns
    -------
    x : ndarray, shape (d,)
        The end of the search.
    grad_norm : float
        :math:`\lVert\nabla f(x)\rVert`.
    n_iter : int
        Steps taken (accepted or not).
    """
    if not callable(grad) or not callable(hess):
        raise ValueError("grad and hess must be callables of the point")
    x = v.real_array("x0", x0)
    if x.ndim != 1:
        raise ValueError(f"x0 must be a 1-d array, got shape {x.shape}")
    max_iter = v.integer("max_iter", max_iter, lo=1)
    gtol = v.real("gtol", gtol, lo=0.0, lo_open=True)
    g = np.asarray(grad(x), dtype=float)
    g, H = _check_pair(g, hess(x), x.size)
    gnorm, mu, it = float(np.linalg.norm(g)), 1e-2, 0
    for it in range(1, max_iter + 1):
        if gnorm <= gtol:
            it -= 1
            break
        ev, V = np.linalg.eigh(H)
        x_new = x - V @ (ev * (V.T @ g) / (ev * ev + mu))
        g_new = np.asarray(grad(x_new), dtype=float)
        if np.linalg.norm(g_new) < gnorm:
            x, g, gnorm = x_new, g_new, float(np.linalg.norm(g_new))
            H = _check_pair(g, hess(x), x.size)[1]
            mu = max(mu / 10.0, 1e-14)
        else:
            mu *= 10.0
            if mu > 1e12:
                break
    return x, gnorm, it


# --- a small tanh network (torch autograd) ----------------------------------------------

class Landscape(NamedTuple):
    """The loss of a model as NumPy callables of the flat parameter vector."""

    loss: Callable
    grad: Callable
    hess: Callable
    n_params: int
    unpack: Callable


def tanh_mlp_landscape(X, Y, n_hidden):
    r"""The squared loss of a one-hidden-layer tanh network, with its exact gradient and Hessian in closed form.

    :math:`\mathcal L(\theta) = \frac{1}{2P}\sum_\mu \lVert W_2\tanh(W_1 x_\mu +
    b_1) + b_2 - y_\mu\rVert^2` over the :math:`P` columns of ``X`` and ``Y``,
    with :math:`\theta = (W_1, b_1, W_2, b_2)` flattened row by row. With
    :math:`h = \tanh(W_1x + b_1)`, :math:`s = 1 - h^2`, the residual
    :math:`r = W_2h + b_2 - y` and :math:`\tilde x = (x, 1)`, the Hessian is
    the Gauss–Newton term :math:`\frac1P\sum_\mu J_\mu^\top J_\mu` (with
    :math:`J_\mu` the Jacobian of the output) plus two residual terms, both
    local to one hidden unit :math:`k`:

    .. math::

        \frac{\partial^2\mathcal L}{\partial W_{2,ok}\,\partial \tilde W_{1,ki}}
        \mathrel{+}= \frac1P\sum_\mu r_{o\mu}s_{k\mu}\tilde x_{i\mu}, \qquad
        \frac{\partial^2\mathcal L}{\partial \tilde W_{1,ki}\,\partial \tilde W_{1,kj}}
        \mathrel{+}= \frac1P\sum_\mu (W_2^\top r)_{k\mu}\,(-2h_{k\mu}s_{k\mu})\,
        \tilde x_{i\mu}\tilde x_{j\mu} ,

    where :math:`\tilde W_1 = (W_1, b_1)`. NumPy evaluates these in float64,
    about a hundred times faster than automatic differentiation at the
    chapter's size (the unit tests check them against torch autograd).

    Parameters
    ----------
    X : array_like, shape (n_in, P)
    Y : array_like, shape (n_out, P)
    n_hidden : int
        :math:`\ge 1`.

    Returns
    -------
    Landscape
        ``loss``, ``grad`` and ``hess`` take a NumPy vector of length
        ``n_params`` and return NumPy values; ``unpack(theta)`` returns the
        arrays ``(W1, b1, W2, b2)``.
    """
    X, Y = v.matrix("X", X), v.matrix("Y", Y)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same number of columns, got {X.shape[1]} and {Y.shape[1]}")
    n_hidden = v.integer("n_hidden", n_hidden, lo=1)
    return _TanhMLP(X, Y, n_hidden).landscape()


class _TanhMLP:
    """Closed-form loss, gradient and Hessian of tanh_mlp_landscape (inputs already checked)."""

    def __init__(self, X, Y, n_hidden):
        self.X, self.Y, self.h = X, Y, n_hidden
        self.n_in, self.n_out, self.P = X.shape[0], Y.shape[0], X.shape[1]
        self.Xt = np.vstack([X, np.ones((1, self.P))])          # inputs with the bias row
        d, h, o = self.n_in, n_hidden, self.n_out
        self.shapes = [(h, d), (h,), (o, h), (o,)]
        self.sizes = [int(np.prod(sh)) for sh in self.shapes]
        self.n_params = sum(self.sizes)

    def split(self, theta):
        out, k = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            out.append(theta[k:k + size].reshape(shape))
            k += size
        return out

    def theta(self, x):
        x = np.asarray(x, dtype=float)
        if x.shape != (self.n_params,):
            raise ValueError(f"theta must have shape ({self.n_params},), got {x.shape}")
        return x

    def forward(self, x):
        W1, b1, W2, b2 = self.split(self.theta(x))
        hid = np.tanh(W1 @ self.X + b1[:, None])
        return W1, W2, hid, W2 @ hid + b2[:, None] - self.Y

    def loss(self, x):
        return 0.5 * float(np.sum(self.forward(x)[3] ** 2)) / self.P

    def grad(self, x):
        _, W2, hid, r = self.forward(x)
        delta = (W2.T @ r) * (1.0 - hid * hid)
        g1 = delta @ self.Xt.T / self.P                    # (h, d + 1): W1 and b1
        return np.concatenate([g1[:, :-1].ravel(), g1[:, -1], (r @ hid.T).ravel() / self.P,
                               r.sum(axis=1) / self.P])

    def hess(self, x):
        _, W2, hid, r = self.forward(x)
        h, o, P, dt = self.h, self.n_out, self.P, self.n_in + 1
        s = 1.0 - hid * hid
        hid_b = np.vstack([hid, np.ones((1, P))])                     # (h + 1, P): W2 and b2 together
        Z = (s[:, None, :] * self.Xt[None, :, :]).reshape(h * dt, P)  # d h_k / d W1~[k, i]
        n1 = h * dt
        H = np.zeros((n1 + o * (h + 1),) * 2)
        # Gauss-Newton blocks, summed over the outputs in closed form.
        G = W2.T @ W2
        H[:n1, :n1] = (Z @ Z.T) * np.kron(G, np.ones((dt, dt))) / P
        H[n1:, n1:] = np.kron(np.eye(o), hid_b @ hid_b.T) / P
        ZH = (Z @ hid_b.T).reshape(h, dt, h + 1) / P                   # (k, i, a)
        cross = np.einsum("ok,kia->kioa", W2, ZH).reshape(n1, o * (h + 1))
        # Residual terms: W2[o, k] with W1~[k, i], and W1~[k, i] with W1~[k, j].
        c = np.einsum("op,kp,ip->kio", r, s, self.Xt) / P              # (h, dt, o)
        cross.reshape(h, dt, o, h + 1)[np.arange(h), :, :, np.arange(h)] += c
        H[:n1, n1:] = cross
        H[n1:, :n1] = cross.T
        q = (W2.T @ r) * (-2.0 * hid * s)                               # (h, P)
        blocks = np.einsum("kp,ip,jp->kij", q, self.Xt, self.Xt) / P
        for k in range(h):
            H[k * dt:(k + 1) * dt, k * dt:(k + 1) * dt] += blocks[k]
        # Reorder (W1~ rows, then W2 rows with b2 as an extra column) into theta's (W1, b1, W2, b2).
        rows = np.arange(n1).reshape(h, dt)
        w2 = (np.arange(o)[:, None] * (h + 1) + np.arange(h)[None, :]).ravel()
        order = np.concatenate([rows[:, :-1].ravel(), rows[:, -1], n1 + w2, n1 + np.arange(o) * (h + 1) + h])
        H = H[np.ix_(order, order)]
        return 0.5 * (H + H.T)                   # exactly symmetric, for eigh and the tests

    def landscape(self):
        return Landscape(
            loss=self.loss,
            grad=self.grad,
            hess=self.hess,
            n_params=self.n_params,
            unpack=lambda x: tuple(a.copy() for a in self.split(np.asarray(x, dtype=float))),
        )
