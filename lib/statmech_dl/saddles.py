r"""Loss landscapes: Hessians, critical points and the optimisers that cross them.

The home of the curvature computations of the book. The chapter *Deep linear
dynamics* uses the exact Hessian of a linear network's loss to show why the
learning rate must shrink with depth (:func:`hessian_top_eigenvalue`,
:func:`gauss_newton_hessian`); the chapter *Saddle points* builds on them.
"""

from functools import reduce

import numpy as np

from . import _validation as v

__all__ = ["hessian_top_eigenvalue", "gauss_newton_hessian"]


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
