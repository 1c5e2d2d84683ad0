r"""Training loops, shared by every chapter.

Three trainers, one for each kind of model in the book:

* :func:`train_linear_network` (and :func:`train_linear_networks`, several
  side by side): full-batch gradient descent on deep *linear* networks, in
  NumPy, written in terms of the data's correlation matrices (chapters
  *Semantic development* and *Deep linear dynamics*);
* :func:`training_curves` (and :func:`training_curve`, :func:`train_classifier`
  for one network): minibatch SGD on deep nonlinear classifiers initialised
  from the mean-field ensemble, in NumPy with hand-written back-propagation,
  many networks side by side (chapters *Transient chaos* and *Dynamical
  isometry*);
* :func:`fit`: the loop for models written in torch (later chapters), with
  the book's torch conventions built in.

When to use which
-----------------
NumPy where the model is a stack of dense layers whose gradient is a few lines:
it is as fast as torch at the book's sizes (a chain of thirty 64x64 products
took 0.34 ms in NumPy and 0.44 ms in torch on the book's 2-core machine) and it
keeps the dependency light. Torch where automatic differentiation earns its
keep: Hessians, convolutions, learned variances, or many parameter groups
trained with Adam.

Torch conventions
-----------------
* torch is imported only inside the functions (and modules) that need it:
  ``import statmech_dl`` and ``import statmech_dl.training`` stay torch-free;
* seeds flow from the chapter's NumPy generator into a ``torch.Generator``
  (:func:`statmech_dl.torch_utils.generator`), so two executions print the same
  numbers;
* one thread, CPU only; float64 wherever a number is compared with theory;
* public functions take and return NumPy arrays; tensors stay inside.
"""

from dataclasses import dataclass, field

import numpy as np

from . import _validation as v
from . import init, nonlinearities
from . import linear_dynamics as ld

__all__ = ["LinearTrajectory", "train_linear_network", "train_linear_networks", "train_classifier", "training_curve",
           "training_curves", "fit"]


@dataclass
class LinearTrajectory:
    """Recorded trajectory of :func:`train_linear_network`.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times in units of :math:`\\tau` (step times learning rate).
    maps : ndarray, shape (T, N3, N1)
        Input-output map :math:`W_L \\cdots W_1` at each recorded time.
    loss : ndarray, shape (T,)
        Training loss at each recorded time.
    weights : list of ndarray
        One array per layer, shape ``(T, n_out, n_in)``, when
        ``record_weights=True``; otherwise the final weights, one matrix per
        layer.
    """

    t: np.ndarray
    maps: np.ndarray
    loss: np.ndarray
    weights: list = field(default_factory=list)


def _chain(mats):
    # Product mats[-1] @ ... @ mats[0]; None stands for the identity, which
    # is never multiplied out (one-hot inputs make the first factor large).
    out = None
    for M in mats:
        out = M if out is None else M @ out
    return out


def train_linear_network(
    X,
    Y,
    hidden=(100,),
    lr=0.01,
    n_steps=1000,
    init_scale=1e-3,
    rng=None,
    initial_weights=None,
    record_every=10,
    record_weights=False,
    target_loss=None,
):
    r"""Full-batch gradient descent on a linear network :math:`\hat y = W_L\cdots W_1 x`.

    Minimises :math:`\mathcal{L} = \frac{1}{2P}\sum_\mu \lVert y^\mu - W x^\mu
    \rVert^2` with :math:`W = W_L \cdots W_1`. The gradient with respect to
    layer :math:`l` is

    .. math::

        \frac{\partial \mathcal{L}}{\partial W_l}
        = -(W_L \cdots W_{l+1})^\top \left(\Sigma^{31} - W \Sigma^{11}\right)
          (W_{l-1} \cdots W_1)^\top ,

    so only the correlation matrices are needed. One step with learning rate
    :math:`\eta` advances time by :math:`\eta` in units of :math:`\tau`. Used in
    the chapters *Semantic development* and *Deep linear dynamics*.

    Implemented in NumPy, which is the faster choice at the book's sizes: on the
    book's 2-core machine a chain of thirty 64x64 products took 0.34 ms in
    NumPy against 0.44 ms in torch (single-threaded, float64).
    :func:`train_linear_networks` trains several networks at once, each with
    the numbers it would have alone.

    Parameters
    ----------
    X : array_like, shape (N1, P)
        Inputs, one column per example.
    Y : array_like, shape (N3, P)
        Targets, one column per example.
    hidden : int or sequence of int, optional
        Hidden layer sizes; ``()`` gives a network with no hidden layer.
    lr : float, optional
        Learning rate :math:`\eta > 0`.
    n_steps : int, optional
        Number of gradient steps, at least 1.
    init_scale : float, optional
        Standard deviation of the i.i.d. Gaussian initial weights, :math:`\ge 0`.
        Ignored when ``initial_weights`` is given.
    rng : None, int or numpy.random.Generator, optional
        Source of the initial weights.
    initial_weights : list of array_like, optional
        Explicit initial weights, first layer first.
    record_every : int, optional
        Record the map and loss every this many steps (and at the last step).
    record_weights : bool, optional
        Also record every layer's weights.
    target_loss : float, optional
        Stop at the first recorded step whose loss is at most this value (the
        last recorded time is then the time to reach this criterion, to within
        ``record_every`` steps).

    Returns
    -------
    LinearTrajectory

    Raises
    ------
    ValueError
        For bad arguments, and if the loss stops being finite (``lr`` too large).
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    sigma11, sigma31 = ld.input_output_correlations(X, Y)
    sigma33_trace = float(np.sum(Y * Y)) / Y.shape[1]
    n_in, n_out = X.shape[0], Y.shape[0]

    if np.ndim(hidden) == 0:
        hidden = (v.integer("hidden", hidden, lo=1),)
    hidden = tuple(v.integer("hidden", h, lo=1) for h in hidden)
    sizes = (n_in,) + hidden + (n_out,)
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    n_steps = v.integer("n_steps", n_steps, lo=1)
    record_every = v.integer("record_every", record_every, lo=1)
    if target_loss is not None:
        target_loss = v.real("target_loss", target_loss, lo=0.0)

    if initial_weights is None:
        init_scale = v.real("init_scale", init_scale, lo=0.0)
        gen = v.as_generator(rng)
        Ws = [init_scale * gen.standard_normal((sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    else:
        if len(initial_weights) != len(sizes) - 1:
            raise ValueError(f"initial_weights must hold {len(sizes) - 1} matrices for hidden={hidden}, got {len(initial_weights)}")
        Ws = []
        for i, W in enumerate(initial_weights):
            W = v.matrix(f"initial_weights[{i}]", W).copy()
            if W.shape != (sizes[i + 1], sizes[i]):
                raise ValueError(f"initial_weights[{i}] must have shape {(sizes[i + 1], sizes[i])}, got {W.shape}")
            Ws.append(W)

    return _train_linear_stack(sigma11, sigma31, sigma33_trace, [Ws], lr, n_steps, record_every,
                               record_weights, target_loss)[0]


def train_linear_networks(X, Y, initial_weights, lr=0.01, n_steps=1000, record_every=10, record_weights=False,
                          target_loss=None):
    r"""Train several deep linear networks on the same data side by side; one :class:`LinearTrajectory` each.

    Each network is trained exactly as :func:`train_linear_network` would
    train it from ``initial_weights[k]``, and stops on its own at
    ``target_loss``; the layers of all the networks are stacked into arrays
    of shape ``(K, n_out, n_in)``, so that every NumPy call advances all of
    them. The matrices of the book's linear networks are small (16 x 16), and
    one call per network would spend most of its time in call overhead.

    Parameters
    ----------
    X, Y, lr, n_steps, record_every, record_weights, target_loss
        As in :func:`train_linear_network`, shared by all networks.
    initial_weights : sequence of sequences of array_like
        One list of layer matrices per network, first layer first; all the
        networks have the same layer shapes.

    Returns
    -------
    list of LinearTrajectory

    Raises
    ------
    ValueError
        For bad arguments, and if a network's loss stops being finite.
    """
    X = v.matrix("X", X)
    Y = v.matrix("Y", Y)
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    n_steps = v.integer("n_steps", n_steps, lo=1)
    record_every = v.integer("record_every", record_every, lo=1)
    if target_loss is not None:
        target_loss = v.real("target_loss", target_loss, lo=0.0)
    if isinstance(initial_weights, np.ndarray) or len(initial_weights) == 0:
        raise ValueError("initial_weights must be a non-empty list holding one list of layer matrices per network")
    stacks = []
    for k, weights in enumerate(initial_weights):
        weights = [v.matrix(f"initial_weights[{k}][{i}]", W).copy() for i, W in enumerate(weights)]
        shapes = [W.shape for W in weights]
        if not weights or weights[0].shape[1] != X.shape[0] or weights[-1].shape[0] != Y.shape[0] or any(
                a[0] != b[1] for a, b in zip(shapes, shapes[1:])):
            raise ValueError(f"initial_weights[{k}] must chain from {X.shape[0]} inputs to {Y.shape[0]} outputs, "
                             f"got shapes {shapes}")
        if stacks and shapes != [W.shape for W in stacks[0]]:
            raise ValueError(f"initial_weights[{k}] has layer shapes {shapes}, unlike network 0's "
                             f"{[W.shape for W in stacks[0]]}")
        stacks.append(weights)
    sigma11, sigma31 = ld.input_output_correlations(X, Y)
    sigma33_trace = float(np.sum(Y * Y)) / Y.shape[1]
    return _train_linear_stack(sigma11, sigma31, sigma33_trace, stacks, lr, n_steps, record_every, record_weights,
                               target_loss)


def _train_linear_stack(sigma11, sigma31, sigma33_trace, networks, lr, n_steps, record_every, record_weights,
                        target_loss):
    # Gradient descent on K networks at once: layer l of every network still
    # running is Ws[l][j], network active[j]. A network leaves the stack when
    # it reaches target_loss, so the others run on with the same arithmetic.
    n_in = sigma11.shape[0]
    # With whitened or one-hot inputs Sigma11 is a multiple of the identity,
    # and W @ Sigma11 reduces to a scalar product: a large saving for one-hot
    # inputs, where Sigma11 is P x P.
    diag = sigma11[0, 0]
    scalar_input = np.allclose(sigma11, diag * np.eye(n_in), rtol=0, atol=1e-14 * max(diag, 1e-300))
    n_layers = len(networks[0])
    Ws = [np.stack([weights[l] for weights in networks]) for l in range(n_layers)]
    active = np.arange(len(networks))
    record_steps = set(range(0, n_steps + 1, record_every)) | {n_steps}
    ts, maps, losses = ([[] for _ in networks] for _ in range(3))
    weight_hist = [[[] for _ in range(n_layers)] for _ in networks]
    final = [None] * len(networks)          # each network's weights where it stopped

    def loss_of(W):
        WS = diag * W if scalar_input else W @ sigma11
        return 0.5 * (sigma33_trace - 2.0 * np.sum(W * sigma31, axis=(1, 2)) + np.sum(WS * W, axis=(1, 2)))

    # Overflow is caught below and reported as a ValueError naming lr, so the
    # floating-point warnings it would print first are silenced.
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(n_steps + 1):
            W = _chain(Ws)
            finite = np.all(np.isfinite(W), axis=(1, 2))
            if step in record_steps:
                L = loss_of(W)
                finite &= np.isfinite(L)
            if not np.all(finite):
                raise ValueError(f"training diverged at step {step}: lr={lr:g} is too large for this data")
            if step in record_steps:
                done = np.zeros(len(active), dtype=bool)
                for j, k in enumerate(active):
                    ts[k].append(step * lr)
                    maps[k].append(W[j])
                    losses[k].append(L[j])
                    if record_weights:
                        for h, Wl in zip(weight_hist[k], Ws):
                            h.append(Wl[j].copy())
                    done[j] = target_loss is not None and L[j] <= target_loss
                if np.any(done):
                    keep = ~done
                    for k, j in zip(active[done], np.flatnonzero(done)):
                        final[k] = [Wl[j] for Wl in Ws]
                    active, W = active[keep], W[keep]
                    Ws = [Wl[keep] for Wl in Ws]
                    if active.size == 0:
                        break
            if step == n_steps:
                break
            G = sigma31 - (diag * W if scalar_input else W @ sigma11)
            # below[l] = W_{l-1}...W_1 and above[l] = W_L...W_{l+1} (None = identity).
            below = [None]
            for Wl in Ws[:-1]:
                below.append(_chain([below[-1], Wl]) if below[-1] is not None else Wl)
            above = [None]
            for Wl in reversed(Ws[1:]):
                above.append(Wl if above[-1] is None else above[-1] @ Wl)
            above = above[::-1]
            for l in range(n_layers):
                grad = G if above[l] is None else np.swapaxes(above[l], 1, 2) @ G
                if below[l] is not None:
                    grad = grad @ np.swapaxes(below[l], 1, 2)
                Ws[l] = Ws[l] + lr * grad
    for j, k in enumerate(active):
        final[k] = [Wl[j] for Wl in Ws]
    return [LinearTrajectory(np.array(ts[k]), np.array(maps[k]), np.array(losses[k]),
                             [np.array(h) for h in weight_hist[k]] if record_weights else final[k])
            for k in range(len(networks))]


def train_classifier(X, y, depth, sigma_w, sigma_b, width=32, phi="tanh", n_steps=300, lr=0.005,
                     batch_size=64, rng=None):
    r"""Train a deep random network with SGD on a classification task; return its training accuracy.

    The network has ``depth`` hidden layers of ``width`` units with
    nonlinearity ``phi``, initialised from the mean-field ensemble
    (:math:`W_{ij} \sim \mathcal N(0, \sigma_w^2/n_{\mathrm{in}})`,
    :math:`b_i \sim \mathcal N(0, \sigma_b^2)`), and a linear read-out trained
    with softmax cross-entropy by plain minibatch SGD, in single precision
    (see :func:`training_curves`). The trainability experiment of the chapter
    *Transient chaos* uses it: signals and gradients survive only about
    :math:`\xi_c` layers, so networks much deeper than a few :math:`\xi_c`
    fail to train (Schoenholz et al. 2017). :func:`training_curve` records the
    whole course of training, and :func:`training_curves` trains several
    networks at once.

    Parameters
    ----------
    X : array_like, shape (n_examples, n_inputs)
        Inputs, one example per row (scaled so that :math:`\lVert x\rVert^2/n_{\mathrm{in}} \approx 1`,
        as :func:`statmech_dl.datasets.digits` does with ``scale="unit_length"``).
    y : array_like of int, shape (n_examples,)
        Class labels :math:`0, \dots, K-1`.
    depth : int
        Hidden layers, :math:`\ge 1`.
    sigma_w, sigma_b : float
    width : int, optional
    phi : str, optional
    n_steps, batch_size : int, optional
    lr : float, optional
        Learning rate :math:`> 0`.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    float
        Accuracy on the training set after ``n_steps`` steps.
    """
    curve = training_curve(X, y, depth, sigma_w, sigma_b, width=width, phi=phi, n_steps=n_steps, lr=lr,
                           batch_size=batch_size, rng=rng, record_every=n_steps)
    return float(curve["accuracy"][-1])


#: The argument types that give one value per network to training_curves.
_SEQUENCES = (list, tuple, np.ndarray)


def _labels(name, y, n_rows):
    y = np.asarray(y)
    if y.shape != (n_rows,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError(f"{name} must hold one non-negative integer label per row, got shape {y.shape}")
    return y


def training_curve(X, y, depth, sigma_w, sigma_b, width=32, phi="tanh", n_steps=300, lr=0.005,
                   batch_size=64, rng=None, weights="gaussian", X_test=None, y_test=None, record_every=50,
                   dtype="float32"):
    r"""Train a deep network with minibatch SGD and record its loss and accuracy as it learns.

    The network is that of :func:`train_classifier` (``depth`` hidden layers of
    ``width`` units, a linear read-out, softmax cross-entropy). Its weights are
    drawn by :func:`statmech_dl.init.draw`, either ``"gaussian"`` (entries of
    variance :math:`\sigma_w^2/n_{\mathrm{in}}`) or ``"orthogonal"``
    (:math:`\sigma_w` times a Haar matrix with orthonormal rows or columns),
    which compares the initialisations of the chapter *Dynamical isometry* at
    equal :math:`\sigma_w`: both have the same mean squared singular value, but
    only the orthogonal one has all singular values equal.

    One network of :func:`training_curves`, which trains many at once; the
    numbers are the same either way.

    Parameters
    ----------
    X, y, depth, sigma_w, sigma_b, width, phi, n_steps, lr, batch_size, rng
        As in :func:`train_classifier`.
    weights : str, optional
        ``"gaussian"`` or ``"orthogonal"``.
    X_test, y_test : array_like, optional
        A held-out set whose accuracy is recorded too.
    record_every : int, optional
        Record after every this many steps (and before the first), :math:`\ge 1`.
    dtype : str, optional
        ``"float32"`` or ``"float64"``; see :func:`training_curves`.

    Returns
    -------
    dict of ndarray
        ``"step"``, ``"loss"`` (mean cross-entropy on the whole training set),
        ``"accuracy"`` and, with a test set, ``"test_accuracy"``.
    """
    for name, value in (("sigma_w", sigma_w), ("sigma_b", sigma_b), ("lr", lr)):
        if np.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar for one network, got shape {np.shape(value)}; "
                             "training_curves trains several")
    if np.ndim(X) != 2:
        raise ValueError(f"X must be a 2-d array, got shape {np.shape(X)}")
    if isinstance(rng, _SEQUENCES) or not isinstance(weights, str):
        raise ValueError("rng and weights must be given for one network; training_curves trains several")
    curves = training_curves(X, y, depth, sigma_w, sigma_b, width=width, phi=phi, n_steps=n_steps, lr=lr,
                             batch_size=batch_size, rng=rng, weights=weights, X_test=X_test, y_test=y_test,
                             record_every=record_every, dtype=dtype)
    return {k: (val if k == "step" else val[0]) for k, val in curves.items()}


def _per_network(name, value, n):
    # A scalar applies to every network; a sequence gives one value per network.
    if isinstance(value, _SEQUENCES) and not (isinstance(value, np.ndarray) and value.ndim == 0):
        if len(value) != n:
            raise ValueError(f"{name} must be a scalar or hold one value per network ({n}), got {len(value)}")
        return list(value)
    return [value] * n


def training_curves(X, y, depth, sigma_w, sigma_b, width=32, phi="tanh", n_steps=300, lr=0.005,
                    batch_size=64, rng=None, weights="gaussian", X_test=None, y_test=None, record_every=50,
                    dtype="float32"):
    r"""Train several deep networks of one architecture side by side, with minibatch SGD.

    Each network is that of :func:`training_curve` and is trained exactly as
    :func:`training_curve` would train it alone: its own generator draws its
    initial weights and then its minibatches, so network :math:`k` prints the
    same numbers whether it is trained alone or with others. Training them
    together stacks their layers into arrays of shape ``(K, n_out, n_in)``,
    so that each NumPy call works on all :math:`K` networks: the arrays are
    small (a batch of 64 through a layer of 32 units), and one call per
    network would spend most of its time in call overhead.

    Implemented in NumPy with hand-written back-propagation: with softmax
    cross-entropy :math:`\mathcal L` on the logits :math:`z`,
    :math:`\partial\mathcal L/\partial z = \mathrm{softmax}(z) - e_y`, and
    each hidden layer passes :math:`\delta^{l-1} = (\delta^l W^l)\odot
    \phi'(h^{l-1})` down.

    Parameters
    ----------
    X : array_like, shape (n_examples, n_inputs) or (K, n_examples, n_inputs)
        Inputs shared by all networks, or one set per network.
    y : array_like of int, shape (n_examples,)
        Class labels :math:`0, \dots, K-1`, shared.
    depth, width : int
        Hidden layers and their width, shared, both :math:`\ge 1`.
    sigma_w, sigma_b, lr : float or sequence of float
        One value for all networks, or one per network.
    phi : str, optional
        Nonlinearity, shared.
    n_steps, batch_size, record_every : int, optional
        Shared.
    rng : None, int, numpy.random.Generator, or a sequence of these
        One source per network. A single seed with several networks is an
        error: the networks would be identical.
    weights : str or sequence of str, optional
        ``"gaussian"`` or ``"orthogonal"``, for all or per network.
    X_test, y_test : array_like, optional
        A held-out set (shared, or one per network like ``X``) whose
        accuracy is recorded too.
    dtype : str, optional
        ``"float32"`` (default) or ``"float64"``. These trainings are compared
        with the theory through orderings and thresholds (which network
        trains, which learns faster), not digit by digit; single precision
        changes the recorded losses in the sixth digit and halves the time,
        because NumPy's ``tanh`` is vectorised for it. The losses and
        accuracies are accumulated in float64.

    Returns
    -------
    dict of ndarray
        ``"step"``, shape (T,); ``"loss"`` (mean cross-entropy on the whole
        training set), ``"accuracy"`` and, with a test set,
        ``"test_accuracy"``, each of shape (K, T).

    Raises
    ------
    ValueError
        For bad arguments, and when a network's loss stops being finite
        (its learning rate too large), naming that network.
    """
    nl = nonlinearities.get(phi)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    lengths = {len(a) for a in (sigma_w, sigma_b, lr, rng, weights)
               if isinstance(a, _SEQUENCES) and np.ndim(a) == 1}
    if np.ndim(X) == 3:
        lengths.add(np.shape(X)[0])
    if len(lengths) > 1:
        raise ValueError(f"the per-network arguments disagree on the number of networks: {sorted(lengths)}")
    n_net = lengths.pop() if lengths else 1
    if n_net < 1:
        raise ValueError("at least one network is needed")
    rngs = _per_network("rng", rng, n_net)
    if n_net > 1 and not isinstance(rng, _SEQUENCES):
        raise ValueError("rng must give one seed or generator per network when training several")
    gens = [v.as_generator(r) for r in rngs]
    sigma_ws = [v.real("sigma_w", s, lo=0.0, lo_open=True) for s in _per_network("sigma_w", sigma_w, n_net)]
    sigma_bs = [v.real("sigma_b", s, lo=0.0) for s in _per_network("sigma_b", sigma_b, n_net)]
    lrs = [v.real("lr", s, lo=0.0, lo_open=True) for s in _per_network("lr", lr, n_net)]
    ensembles = [init.ensemble(w) for w in _per_network("weights", weights, n_net)]

    def inputs(name, value):
        arr = v.matrix(name, value, ndim=np.ndim(value) if np.ndim(value) in (2, 3) else 2)
        if arr.ndim == 3 and arr.shape[0] != n_net:
            raise ValueError(f"{name} must hold one input matrix per network ({n_net}), got {arr.shape[0]}")
        return arr

    X = inputs("X", X)
    n_examples, n_inputs = X.shape[-2:]
    y = _labels("y", y, n_examples)
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test = inputs("X_test", X_test)
        if X_test.shape[-1] != n_inputs:
            raise ValueError(f"X_test must have {n_inputs} columns like X, got {X_test.shape[-1]}")
        y_test = _labels("y_test", y_test, X_test.shape[-2])
    depth = v.integer("depth", depth, lo=1)
    width = v.integer("width", width, lo=1)
    n_steps = v.integer("n_steps", n_steps, lo=1)
    record_every = v.integer("record_every", record_every, lo=1)
    batch_size = v.integer("batch_size", batch_size, lo=1, hi=n_examples)
    n_classes = int(y.max()) + 1
    sizes = [n_inputs] + [width] * depth + [n_classes]
    n_layers = len(sizes) - 1

    # Each network draws its weights, then its biases, from its own generator,
    # in the order a lone network would.
    drawn = []
    for gen, sw, sb, ens in zip(gens, sigma_ws, sigma_bs, ensembles):
        Ws = [init.draw(ens, sizes[i + 1], sizes[i], sw, gen) for i in range(n_layers)]
        bs = [gen.standard_normal(sizes[i + 1]) * sb for i in range(n_layers)]
        drawn.append((Ws, bs))
    # Stored transposed, (K, n_in, n_out), so that a layer is h = a @ W^T + b
    # on activations a of shape (K, batch, n_in).
    WT = [np.stack([Ws[i].T for Ws, _ in drawn]).astype(dtype) for i in range(n_layers)]
    bs = [np.stack([b[i] for _, b in drawn])[:, None, :].astype(dtype) for i in range(n_layers)]
    X, X_test = X.astype(dtype), None if X_test is None else X_test.astype(dtype)
    rate = np.asarray(lrs, dtype=dtype)[:, None, None]
    is_tanh = nl.name == "tanh"
    nets = np.arange(n_net)[:, None]

    def forward(a, keep):
        pre, acts = [], [a]
        for layer in range(n_layers):
            h = np.matmul(a, WT[layer])
            h += bs[layer]
            if keep and not is_tanh:
                pre.append(h.copy())
            a = (np.tanh(h, out=h) if is_tanh else nl.f(h)) if layer < n_layers - 1 else h
            if keep:
                acts.append(a)
        return pre, (acts if keep else [a])

    def evaluate(inputs, labels):
        logits = forward(inputs, keep=False)[1][-1].astype(np.float64)
        finite = np.all(np.isfinite(logits), axis=(1, 2))
        if not np.all(finite):
            k = int(np.argmin(finite))
            raise ValueError(f"training diverged: lr={lrs[k]:g} is too large for sigma_w={sigma_ws[k]:g} "
                             f"(network {k})")
        shifted = logits - logits.max(axis=2, keepdims=True)
        log_p = shifted - np.log(np.sum(np.exp(shifted), axis=2, keepdims=True))
        loss = -np.mean(log_p[:, np.arange(len(labels)), labels], axis=1)
        return loss, np.mean(np.argmax(logits, axis=2) == labels, axis=1)

    record = {"step": [], "loss": [], "accuracy": [], "test_accuracy": []}

    def snapshot(step):
        loss, acc = evaluate(X, y)
        record["step"].append(step)
        record["loss"].append(loss)
        record["accuracy"].append(acc)
        if X_test is not None:
            record["test_accuracy"].append(evaluate(X_test, y_test)[1])

    rows = np.arange(batch_size)[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        snapshot(0)              # evaluation draws no random numbers
        for step in range(1, n_steps + 1):
            idx = np.stack([gen.integers(0, n_examples, batch_size) for gen in gens])
            pre, acts = forward(X[idx] if X.ndim == 2 else X[nets, idx], keep=True)
            grad = acts[-1] - acts[-1].max(axis=2, keepdims=True)
            np.exp(grad, out=grad)
            grad /= grad.sum(axis=2, keepdims=True)
            grad[nets, rows, y[idx]] -= 1.0
            grad /= batch_size
            for layer in range(n_layers - 1, -1, -1):
                gW = np.matmul(acts[layer].transpose(0, 2, 1), grad)
                gb = grad.sum(axis=1, keepdims=True)
                if layer > 0:
                    # For tanh, phi' = 1 - phi^2 reuses the stored activations.
                    a = acts[layer]
                    grad = np.matmul(grad, WT[layer].transpose(0, 2, 1))
                    grad *= (1.0 - a * a) if is_tanh else nl.df(pre[layer - 1])
                gW *= rate
                WT[layer] -= gW
                gb *= rate
                bs[layer] -= gb
            if step % record_every == 0 or step == n_steps:
                snapshot(step)
    if X_test is None:
        del record["test_accuracy"]
    return {k: (np.array(val) if k == "step" else np.array(val).T) for k, val in record.items()}


# --- torch ------------------------------------------------------------------------

_OPTIMIZERS = ("adam", "sgd")


def fit(model, loss, data, n_steps, rng, lr=1e-3, batch_size=None, optimizer="adam", weight_decay=0.0,
        record_every=100, callback=None, lr_final=None):
    r"""Train a torch model by minibatch gradient descent; return what was recorded, as NumPy arrays.

    Each step draws a minibatch of rows from ``data`` (with a ``torch.Generator``
    seeded from ``rng``, so that two runs print the same numbers), evaluates
    ``loss(model, *batch)``, back-propagates and takes one optimiser step. The
    model's parameters keep their dtype (float64 where results are compared
    with theory) and torch runs on one CPU thread.

    Parameters
    ----------
    model : torch.nn.Module
    loss : callable
        ``loss(model, *batch)`` returns the scalar tensor to minimise, or a pair
        ``(tensor, dict)`` whose dict holds further numbers to record.
    data : sequence of array_like
        Arrays with the same number of rows, converted once to tensors of the
        model's dtype (integer arrays stay integer).
    n_steps : int
        Optimiser steps, :math:`\ge 1`.
    rng : int or numpy.random.Generator
        Seeds the minibatch draws.
    lr : float, optional
        Learning rate :math:`> 0`.
    lr_final : float, optional
        If given, the learning rate decays geometrically from ``lr`` at the
        first step to ``lr_final`` (:math:`> 0`) at the last; constant by
        default.
    batch_size : int, optional
        Rows per step; all of them (full batch) by default.
    optimizer : str, optional
        ``"adam"`` or ``"sgd"``.
    weight_decay : float, optional
        L2 penalty coefficient of the optimiser, :math:`\ge 0`.
    record_every : int, optional
        Record the mean of the loss (and of the extra numbers) over every this
        many steps.
    callback : callable, optional
        ``callback(step, model)`` after every optimiser step, for example to
        accumulate synaptic importance. If it returns ``True``, training
        stops after that step (for early stopping); the record then ends
        there.

    Returns
    -------
    dict of ndarray
        ``"step"`` and ``"loss"``, plus one entry for every extra number.

    Raises
    ------
    ValueError
        For bad arguments, and if the loss stops being finite.
    """
    import torch

    from . import torch_utils

    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss):
        raise ValueError("loss must be callable as loss(model, *batch)")
    n_steps = v.integer("n_steps", n_steps, lo=1)
    record_every = v.integer("record_every", record_every, lo=1)
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    weight_decay = v.real("weight_decay", weight_decay, lo=0.0)
    lr_final = lr if lr_final is None else v.real("lr_final", lr_final, lo=0.0, lo_open=True)
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(_OPTIMIZERS)}, got {optimizer!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model must have trainable parameters")
    dtype = params[0].dtype
    tensors = [torch_utils.tensor(d, dtype=None if np.issubdtype(np.asarray(d).dtype, np.integer) else dtype)
               for d in data]
    if not tensors:
        raise ValueError("data must hold at least one array")
    n_rows = tensors[0].shape[0]
    if any(t.shape[0] != n_rows for t in tensors):
        raise ValueError(f"data arrays must have the same number of rows, got {[t.shape[0] for t in tensors]}")
    batch_size = n_rows if batch_size is None else v.integer("batch_size", batch_size, lo=1, hi=n_rows)
    gen = torch_utils.generator(rng)
    opt = (torch.optim.Adam(params, lr=lr, weight_decay=weight_decay) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr, weight_decay=weight_decay))
    record, sums, count = {"step": [], "loss": []}, {}, 0
    decay = (lr_final / lr) ** (1.0 / max(n_steps - 1, 1))
    for step in range(1, n_steps + 1):
        for group in opt.param_groups:
            group["lr"] = lr * decay ** (step - 1)
        if batch_size == n_rows:
            batch = tensors
        else:
            idx = torch.randint(0, n_rows, (batch_size,), generator=gen)
            batch = [t[idx] for t in tensors]
        out = loss(model, *batch)
        value, extra = out if isinstance(out, tuple) else (out, {})
        if not torch.isfinite(value):
            raise ValueError(f"training diverged at step {step}: the loss is {value.item()}; lower lr={lr:g}")
        opt.zero_grad()
        value.backward()
        opt.step()
        stop = callback is not None and callback(step, model) is True
        for key, val in {"loss": value.item(), **{k: float(x.detach() if hasattr(x, "detach") else x) for k, x in extra.items()}}.items():
            sums[key] = sums.get(key, 0.0) + val
        count += 1
        if step % record_every == 0 or step == n_steps or stop:
            record["step"].append(step)
            for key, total in sums.items():
                record.setdefault(key, []).append(total / count)
            sums, count = {}, 0
        if stop:
            break
    return {k: np.array(val) for k, val in record.items()}
