r"""Retina models: a synthetic ground-truth retina, LN and CNN models fitted to it, and the metrics that score them.

The chapter *Retina CNNs* (McIntosh et al. 2016) needs recordings from a
retina whose circuit is known, models of its ganglion cells, and honest
scores. This module holds all three:

* :class:`SyntheticRetina`: a one-dimensional strip of retina built from known
  parts (ON and OFF bipolar subunits with centre-surround spatial and biphasic
  temporal filters, noise before their rectification, slower and wider
  amacrine inhibition, ganglion cells that pool the subunits, binomial spike
  counts) with natural-scene and white-noise stimuli;
* :func:`fit_ln`: the linear-nonlinear model, fitted exactly (its Poisson
  loss is convex) with the penalty chosen on held-out data;
* :func:`fit_cnn`: the authors' convolutional network (stimulus history as
  channels, conv, ReLU, conv, ReLU, dense, softplus; Poisson loss, L2 on the
  weights, L1 on the activity), trained in torch on one thread, with early
  stopping on held-out data if asked;
* the metrics, per cell. Trials are arrays of shape ``(n_repeats, n_frames,
  n_cells)``: :func:`correlation` with the trial-averaged rate,
  :func:`split_half_reliability` (the ceiling), :func:`noise_variance`,
  :func:`variance_explained` (FEV) and :func:`explainable_variance_explained`
  (FEVE), which removes the noise variance that no model can explain;
* :func:`rank1_filter`, :func:`filter_similarity` and :func:`align_profile`, to
  compare learned first-layer filters with the true bipolar receptive fields,
  and :func:`best_unit_correlation`, to compare hidden units with the true
  interneurons.

Conventions: a stimulus is an array ``(n_frames, n_pixels)`` (a strip) or
``(n_frames, height, width)``; counts are ``(n_frames, n_cells)``. A model
with ``n_lags`` frames of history predicts ``n_frames - n_lags + 1`` rows,
row ``j`` aligned to frame ``j + n_lags - 1``, the *last* frame of its
window, so that the learned filters read the window forwards in time (the
oldest frame first): the reverse of a causal kernel's order.
"""

import functools
import gc
import importlib
import os

import numpy as np
from scipy import signal

from . import _validation as v

__all__ = [
    "SyntheticRetina",
    "fit_ln",
    "fit_cnn",
    "fit_ln_and_cnn",
    "RetinaModel",
    "correlation",
    "split_half_reliability",
    "noise_variance",
    "variance_explained",
    "explainable_variance_explained",
    "fano_factor",
    "one_over_f_image",
    "rank1_filter",
    "filter_similarity",
    "align_profile",
    "best_unit_correlation",
    "reversing_grating",
    "harmonic_amplitudes",
]

STIMULUS_KINDS = ("natural", "white_noise")


# ---------------------------------------------------------------------------
# The ground-truth retina
# ---------------------------------------------------------------------------

def _gamma_kernel(t, tau):
    g = (t / tau) ** 3 * np.exp(-t / tau)
    return g / g.sum()


def _gaussian(x, sd):
    return np.exp(-0.5 * (x / sd) ** 2)


class SyntheticRetina:
    r"""A strip of retina whose circuit is known, as the chapter's ground truth.

    Frames are 10 ms bins; the stimulus is a strip of ``n_pixels`` pixels
    (contrast, mean zero). The circuit is fixed; only the stimuli and the
    noise are random (``seed`` fixes the noise stream of the averages in
    :meth:`expected_counts` and :meth:`interneurons`):

    1. **Bipolar subunits.** At each position :math:`p` where the spatial
       filter fits, an ON and an OFF subunit see the linear drive
       :math:`x_{tp} = \sum_{\tau, q} k_\tau\, s_{t-\tau,\, p+q}\, d_q`: a
       difference-of-Gaussians :math:`d` (centre s.d. 1 pixel, surround s.d.
       3 pixels, surround weight 0.8 of the centre's) and a biphasic temporal
       filter :math:`k` (a fast positive lobe minus a slower negative one, 16
       frames). Noise enters *before* rectification:
       :math:`b^{\pm}_{tp} = [\pm x_{tp} + \sigma_b\xi^\pm_{tp} -
       \theta_b]_+`.
    2. **Amacrine cells** pool both bipolar types over a wider Gaussian (s.d.
       3 subunits) and low-pass them in time (10 frames), so they are slower
       and wider: :math:`a_{tp}`.
    3. **Ganglion cells** pool the subunits of their type with Gaussian
       weights :math:`w` (s.d. 1.5 subunits) and subtract the amacrine
       inhibition pooled the same way: :math:`g_t = \sum_p w_p (b_{tp} -
       \alpha a_{tp})`. The cells are, in order, ``cell_types``: two ON, two
       OFF and two ON-OFF cells (which pool both subunit types, so that no
       single linear filter can drive them).
    4. **Spikes** are binomial, :math:`n_t \sim \mathrm{Bin}(n_{\max},
       \pi_t)` with :math:`\pi_t = \sigma(\gamma (g_t - \theta_g))`: at most
       ``n_max`` spikes per bin, hence sub-Poisson (variance :math:`n_{\max}
       \pi (1-\pi)` below the mean), except for the extra variability the
       bipolar noise adds.

    Natural scenes (:meth:`stimulus`) are lines of :math:`1/f` images (power
    spectrum :math:`1/f^2`) seen through fixational drift (a Gaussian random
    walk, 0.25 pixel per frame) with a saccade to a new place every 100
    frames; white noise is binary, each pixel independently :math:`\pm c`.
    Each class has the contrast that gives the bipolar drive unit variance,
    as an experimenter would set the contrast of each stimulus.
    """

    frame_ms = 10
    n_pixels = 40
    n_max = 3
    cell_types = ("ON", "ON", "OFF", "OFF", "ON-OFF", "ON-OFF")
    spatial_half_width = 5
    temporal_length = 16
    amacrine_length = 10

    def __init__(self, seed=0, bipolar_noise=0.35, bipolar_threshold=0.3, inhibition=0.6, gain=10.0,
                 ganglion_threshold=0.35):
        self.seed = v.integer("seed", seed, lo=0)
        self.bipolar_noise = v.real("bipolar_noise", bipolar_noise, lo=0.0)
        self.bipolar_threshold = v.real("bipolar_threshold", bipolar_threshold)
        self.inhibition = v.real("inhibition", inhibition, lo=0.0)
        self.gain = v.real("gain", gain, lo=0.0, lo_open=True)
        self.ganglion_threshold = v.real("ganglion_threshold", ganglion_threshold)
        h = self.spatial_half_width
        q = np.arange(-h, h + 1, dtype=float)
        centre, surround = _gaussian(q, 1.0), _gaussian(q, 3.0)
        d = centre / centre.sum() - 0.8 * surround / surround.sum()
        #: The bipolar spatial filter, shape (2h + 1,), unit norm (ON sign).
        self.spatial_filter = d / np.linalg.norm(d)
        t = np.arange(self.temporal_length, dtype=float)
        k = _gamma_kernel(t, 1.0) - 0.8 * _gamma_kernel(t, 2.0)
        #: The bipolar temporal filter, causal (entry i weights frame t - i), unit norm.
        self.temporal_filter = k / np.linalg.norm(k)
        ta = np.arange(self.amacrine_length, dtype=float)
        a = np.exp(-ta / 4.0)
        #: The amacrine low-pass filter, causal, unit sum.
        self.amacrine_temporal = a / a.sum()
        #: Number of subunit positions (where the spatial filter fits in the strip).
        self.n_subunits = self.n_pixels - 2 * h
        p = np.arange(self.n_subunits, dtype=float)
        pool = _gaussian(p[:, None] - p[None, :], 3.0)
        self._amacrine_pool = pool / pool.sum(axis=1, keepdims=True)
        #: Subunit index at the centre of each ganglion cell.
        self.cell_centres = np.array([6, 20, 9, 23, 12, 17])
        w = _gaussian(p[None, :] - self.cell_centres[:, None], 1.5)
        self._ganglion_pool = w / w.sum(axis=1, keepdims=True)
        self.n_cells = len(self.cell_types)
        # Which bipolar types each ganglion cell pools: (ON weight, OFF weight).
        self._cell_inputs = np.array([{"ON": (1, 0), "OFF": (0, 1), "ON-OFF": (1, 1)}[c] for c in self.cell_types])
        # Contrasts that give the linear bipolar drive unit variance.
        self._contrast = {kind: 1.0 for kind in STIMULUS_KINDS}
        calibration = np.random.default_rng(12345)
        for kind in STIMULUS_KINDS:
            x = self._drive(self.stimulus(kind, 4000, calibration))
            self._contrast[kind] = 1.0 / np.std(x[self.temporal_length:])

    # -- stimuli ----------------------------------------------------------

    def stimulus(self, kind, n_frames, rng):
        """A stimulus of ``kind`` (``"natural"`` or ``"white_noise"``), shape ``(n_frames, n_pixels)``."""
        if kind not in STIMULUS_KINDS:
            raise ValueError(f"kind must be one of {list(STIMULUS_KINDS)}, got {kind!r}")
        n_frames = v.integer("n_frames", n_frames, lo=1)
        rng = v.as_generator(rng)
        c = self._contrast[kind]
        if kind == "white_noise":
            return c * rng.choice([-1.0, 1.0], size=(n_frames, self.n_pixels))
        return c * self._natural(n_frames, rng)

    def _natural(self, n_frames, rng, size=128, fixation=100, drift=0.25):
        n_fix = -(-n_frames // fixation)
        out = np.empty((n_fix * fixation, self.n_pixels))
        image = None
        for i in range(n_fix):
            if i % 8 == 0:
                image = one_over_f_image(size, rng)   # a fresh scene every eight fixations
            start = rng.random(2) * size
            path = start + np.cumsum(drift * rng.standard_normal((fixation, 2)), axis=0)
            y = path[:, :1]
            x = path[:, 1:] + np.arange(self.n_pixels)[None, :]
            out[i * fixation:(i + 1) * fixation] = _bilinear(image, y, x)
        return out[:n_frames]

    # -- the circuit ------------------------------------------------------

    def _check_stimulus(self, stimulus):
        s = v.matrix("stimulus", stimulus)
        if s.shape[1] != self.n_pixels:
            raise ValueError(f"stimulus must have shape (n_frames, {self.n_pixels}), got {s.shape}")
        return s

    def _drive(self, s):
        # Spatial DoG where it fits, then the causal temporal filter.
        windows = np.lib.stride_tricks.sliding_window_view(s, len(self.spatial_filter), axis=1)
        x = windows @ self.spatial_filter
        return signal.lfilter(self.temporal_filter, [1.0], x, axis=0)

    def _layers(self, x, noise_on, noise_off):
        on = np.maximum(x + noise_on - self.bipolar_threshold, 0.0)
        off = np.maximum(-x + noise_off - self.bipolar_threshold, 0.0)
        amacrine = signal.lfilter(self.amacrine_temporal, [1.0], (on + off) @ self._amacrine_pool.T, axis=-2)
        pooled_on = on @ self._ganglion_pool.T
        pooled_off = off @ self._ganglion_pool.T
        inhibition = amacrine @ self._ganglion_pool.T
        w_on, w_off = self._cell_inputs.T
        g = w_on * pooled_on + w_off * pooled_off - self.inhibition * inhibition
        p = 1.0 / (1.0 + np.exp(-self.gain * (g - self.ganglion_threshold)))
        return {"on": on, "off": off, "amacrine": amacrine, "probability": p}

    def _noise(self, rng, shape):
        return self.bipolar_noise * rng.standard_normal(shape)

    def respond(self, stimulus, rng, n_repeats=1):
        """Spike counts to ``stimulus`` on ``n_repeats`` trials, shape ``(n_repeats, n_frames, n_cells)``."""
        s = self._check_stimulus(stimulus)
        n_repeats = v.integer("n_repeats", n_repeats, lo=1)
        rng = v.as_generator(rng)
        x = self._drive(s)
        counts = np.empty((n_repeats, s.shape[0], self.n_cells), dtype=np.int64)
        for k in range(n_repeats):
            p = self._layers(x, self._noise(rng, x.shape), self._noise(rng, x.shape))["probability"]
            counts[k] = rng.binomial(self.n_max, p)
        return counts

    def _average(self, stimulus, n_noise, seed):
        s = self._check_stimulus(stimulus)
        n_noise = v.integer("n_noise", n_noise, lo=1)
        rng = np.random.default_rng(seed)
        x = self._drive(s)
        total = None
        for _ in range(n_noise):
            layers = self._layers(x, self._noise(rng, x.shape), self._noise(rng, x.shape))
            total = layers if total is None else {k: total[k] + layers[k] for k in total}
        return {k: val / n_noise for k, val in total.items()}

    def expected_counts(self, stimulus, n_noise=200):
        r"""The expected spike counts, :math:`n_{\max}\langle\pi_t\rangle`, averaged over the bipolar noise.

        The average is a Monte-Carlo mean over ``n_noise`` draws of the noise
        (a fixed stream, so it is reproducible); its relative error is about
        :math:`1/\sqrt{n_\mathrm{noise}}` of the trial-to-trial spread. This
        is the *oracle*: the best prediction any model of the spike counts
        can make. Shape ``(n_frames, n_cells)``.
        """
        return self.n_max * self._average(stimulus, n_noise, self.seed)["probability"]

    def interneurons(self, stimulus, n_noise=50):
        """The noise-averaged interneurons: a dict of ``"on"``, ``"off"`` (bipolar) and ``"amacrine"`` arrays, each ``(n_frames, n_subunits)``."""
        layers = self._average(stimulus, n_noise, self.seed)
        return {k: layers[k] for k in ("on", "off", "amacrine")}

    def pooled_receptive_field(self):
        r"""Each cell's pool of subunits seen through the ON bipolar filter, ``(n_cells, temporal_length, n_pixels)``.

        Cell :math:`c`'s pool weights :math:`w_{cp}` spread the bipolar spatial
        filter over the strip, :math:`\sum_p w_{cp}\, d_{i-p}`, times the
        temporal filter, time running forwards as the models see it. An ON
        cell's LN filter should point along it, an OFF cell's against it; an
        ON-OFF cell pools both signs, and its linear filter nearly cancels.
        """
        spatial = np.array([np.convolve(w, self.spatial_filter) for w in self._ganglion_pool])
        return self.temporal_filter[::-1][None, :, None] * spatial[:, None, :]

    def drive_contributions(self, stimulus, cell, n_noise=50):
        r"""The noise-averaged drive of ganglion cell ``cell``, split into the interneurons it comes from.

        The drive :math:`g_t = \sum_p w_p (b_{tp} - \alpha a_{tp})` (before
        the spiking nonlinearity) is a sum over subunit positions :math:`p` of
        the ON bipolar, the OFF bipolar and the amacrine cell there, each
        weighted by the cell's pool (a cell that does not pool a bipolar type
        gets zeros for it). Averaged over the bipolar noise as in
        :meth:`interneurons`.

        Returns
        -------
        ndarray, shape (n_frames, 3, n_subunits)
            ON bipolar, OFF bipolar and amacrine contributions; their sum over
            the last two axes is the noise-averaged drive.
        """
        cell = v.integer("cell", cell, lo=0, hi=self.n_cells - 1)
        layers = self.interneurons(stimulus, n_noise)
        w = self._ganglion_pool[cell]
        w_on, w_off = self._cell_inputs[cell]
        return np.stack([w_on * w * layers["on"], w_off * w * layers["off"],
                         -self.inhibition * w * layers["amacrine"]], axis=1)

    def receptive_field(self):
        """The bipolar subunit's space-time filter, ``(temporal_length, 2h + 1)``, time running forwards (oldest frame first, as the models see it)."""
        return np.outer(self.temporal_filter[::-1], self.spatial_filter)


def one_over_f_image(size, rng):
    r"""A periodic ``size`` x ``size`` image with amplitude spectrum :math:`1/f` (power :math:`1/f^2`, as natural
    scenes have), random phases, mean 0 and standard deviation 1."""
    size = v.integer("size", size, lo=2)
    rng = v.as_generator(rng)
    fx = np.fft.fftfreq(size)
    f = np.hypot(fx[:, None], fx[None, :])
    f[0, 0] = np.inf
    phase = np.exp(2j * np.pi * rng.random((size, size)))
    image = np.real(np.fft.ifft2(phase / f))
    return (image - image.mean()) / image.std()


def _bilinear(image, y, x):
    size = image.shape[0]
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = y - y0, x - x0
    y0, x0 = y0 % size, x0 % size
    y1, x1 = (y0 + 1) % size, (x0 + 1) % size
    return ((1 - fy) * ((1 - fx) * image[y0, x0] + fx * image[y0, x1])
            + fy * ((1 - fx) * image[y1, x0] + fx * image[y1, x1]))


# ---------------------------------------------------------------------------
# Models: the LN model (a convex fit, NumPy) and the CNN (torch)
# ---------------------------------------------------------------------------

def _check_data(stimulus, counts, n_lags):
    s = np.asarray(stimulus, dtype=float)
    if s.ndim not in (2, 3):
        raise ValueError(f"stimulus must have shape (n_frames, n_pixels) or (n_frames, height, width), got {s.shape}")
    s = v.matrix("stimulus", s, ndim=s.ndim)
    n_lags = v.integer("n_lags", n_lags, lo=1)
    if s.shape[0] < n_lags:
        raise ValueError(f"stimulus must have at least n_lags = {n_lags} frames, got {s.shape[0]}")
    if counts is None:
        return s, None, n_lags
    c = v.matrix("counts", counts)
    if c.shape[0] != s.shape[0]:
        raise ValueError(f"counts must have one row per stimulus frame ({s.shape[0]}), got shape {c.shape}")
    if np.any(c < 0):
        raise ValueError("counts must be non-negative")
    return s, c, n_lags


class RetinaModel:
    """A fitted model of the ganglion cells (returned by :func:`fit_ln` and :func:`fit_cnn`).

    Attributes
    ----------
    kind : str
        ``"ln"`` or ``"cnn"``.
    n_lags : int
        Frames of stimulus history in each prediction.
    history : dict of ndarray
        For the CNN, the training record of :func:`statmech_dl.training.fit`
        (``"step"``, ``"loss"``, ``"nll"``, and ``"validation_nll"`` with
        ``"best_step"`` under early stopping). For the LN model, the penalty
        path of :func:`fit_ln`: ``"l2_grid"``, ``"validation_nll"`` (one row
        per penalty, one column per cell), ``"path_iter"`` (L-BFGS iterations
        per penalty), ``"l2"`` (the penalty chosen for each cell),
        ``"n_fit_frames"`` (frames the returned model was fitted on), and,
        after a final fit, its ``"n_iter"`` and per-cell ``"gradient_norm"``.
    network : torch.nn.Module or None
        The trained CNN (its first layer is ``network.conv1``); ``None`` for
        the LN model, whose filters :meth:`first_layer` returns.
    """

    def __init__(self, kind, network, n_lags, n_pixels_shape, history, weights=None, bias=None):
        self.kind, self.network, self.n_lags = kind, network, n_lags
        self._shape = n_pixels_shape
        self.history = history
        self._weights, self._bias = weights, bias

    def __getstate__(self):
        # The CNN's class is made inside a function (torch is imported on
        # first use), so pickle travels with what rebuilds the network.
        state = self.__dict__.copy()
        if self.network is not None:
            net = self.network
            state["network"] = {"init_args": net.init_args, "weights": net.state_dict(), "training": net.training,
                                "train_generator": net.train_generator}
        return state

    def __setstate__(self, state):
        saved = state.get("network")
        if isinstance(saved, dict):
            network = _networks()(*saved["init_args"]).to(_model_dtype())
            network.load_state_dict(saved["weights"])
            network.train(saved["training"])
            network.train_generator = saved["train_generator"]
            state = {**state, "network": network}
        self.__dict__.update(state)

    def _input(self, stimulus):
        s, _, _ = _check_data(stimulus, None, self.n_lags)
        if s.shape[1:] != self._shape:
            raise ValueError(f"stimulus must have frames of shape {self._shape}, like the training data; got {s.shape[1:]}")
        return s

    def predict(self, stimulus, noise=False, rng=None):
        """Expected counts, ``(n_frames - n_lags + 1, n_cells)``; row j is aligned to frame j + n_lags - 1.

        With ``noise=True`` (CNN only) the hidden layers receive the Gaussian
        noise used in training, drawn with ``rng``: one sample of the
        network's latent variability.
        """
        import torch

        from . import torch_utils

        if noise and self.kind != "cnn":
            raise ValueError("noise=True needs a CNN: the LN model has no hidden layers")
        s = self._input(stimulus)
        if self.kind == "ln":
            return _softplus(_design(s, self.n_lags) @ self._weights.reshape(len(self._bias), -1).T + self._bias)
        gen = torch_utils.generator(rng) if noise else None
        with torch.no_grad():
            out = self.network(torch_utils.tensor(s, dtype=_model_dtype())[None], noise_generator=gen)
        return torch_utils.numpy(out[0])

    def hidden(self, stimulus):
        """The CNN's hidden activities (after ReLU): a pair of arrays ``(n_out, channels, *positions)`` for layers 1 and 2."""
        import torch

        from . import torch_utils

        if self.kind != "cnn":
            raise ValueError("hidden needs a CNN: the LN model has no hidden layers")
        s = self._input(stimulus)
        with torch.no_grad():
            h1, h2 = self.network.hidden(torch_utils.tensor(s, dtype=_model_dtype())[None])
        return torch_utils.numpy(h1[0]), torch_utils.numpy(h2[0])

    def drive_contributions(self, stimulus, cell):
        r"""The CNN's drive of ``cell`` split exactly over its last hidden layer.

        The predicted rate is :math:`\mathrm{softplus}(z_t) + \epsilon` with
        :math:`z_t = \sum_{k,p} W_{kp}h_{tkp} + b` linear in the second
        hidden layer :math:`h` (channel :math:`k`, position :math:`p`), so
        each hidden unit's share :math:`W_{kp}h_{tkp}` of the drive is exact,
        with no gradient or baseline to choose. Returns ``(contributions,
        bias)``: an array ``(n_out, channels, positions)`` whose sum over the
        last two axes plus ``bias`` is :math:`z_t`.
        """
        from . import torch_utils

        if self.kind != "cnn":
            raise ValueError("drive_contributions needs a CNN: the LN model has no hidden layers")
        weights = torch_utils.numpy(self.network.dense.weight)
        cell = v.integer("cell", cell, lo=0, hi=weights.shape[0] - 1)
        _, h2 = self.hidden(stimulus)
        contributions = h2 * weights[cell].reshape(h2.shape[1:])[None]
        return contributions, float(torch_utils.numpy(self.network.dense.bias)[cell])

    def first_layer(self):
        """First-layer filters, ``(n_filters, n_lags, *kernel)``, time running forwards (oldest frame first)."""
        from . import torch_utils

        if self.kind == "ln":
            return self._weights.copy()
        return torch_utils.numpy(self.network.conv1.weight[:, 0])


@functools.cache
def _networks():
    # Built on first use, so that importing this module does not import torch.
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv(dims):
        return nn.Conv2d if dims == 1 else nn.Conv3d

    class CNN(nn.Module):
        # The stimulus history stacked as channels is the same as a temporal
        # convolution whose kernel spans all n_lags frames: conv1 slides in
        # time over the recording and produces one output per window.
        def __init__(self, n_lags, shape, n_cells, channels, kernels, noise, eps):
            super().__init__()
            d = len(shape)
            k1, k2 = kernels
            self.conv1 = conv(d)(1, channels[0], (n_lags, *k1))
            self.conv2 = conv(d)(channels[0], channels[1], (1, *k2))
            out_shape = [n - a - b + 2 for n, a, b in zip(shape, k1, k2)]
            self.dense = nn.Linear(channels[1] * int(np.prod(out_shape)), n_cells)
            self.noise, self.eps = noise, eps
            #: What rebuilds this network (RetinaModel's pickling).
            self.init_args = (n_lags, tuple(shape), n_cells, tuple(channels),
                              tuple(tuple(k) for k in kernels), noise, eps)
            self.train_generator = None

        def _noisy(self, x, gen):
            if gen is None and not self.training or self.noise == 0:
                return x
            gen = self.train_generator if gen is None else gen
            return x + self.noise * torch.randn(x.shape, generator=gen, dtype=x.dtype)

        def hidden(self, s, gen=None):
            h1 = F.relu(self._noisy(self.conv1(s[:, None]), gen))
            h2 = F.relu(self._noisy(self.conv2(h1), gen))
            return h1.transpose(1, 2), h2.transpose(1, 2)   # (B, T', channels, *positions)

        def rate_and_activity(self, s, noise_generator=None):
            _, h2 = self.hidden(s, noise_generator)
            return F.softplus(self.dense(h2.flatten(2))) + self.eps, h2.abs().mean()

        def forward(self, s, noise_generator=None):
            return self.rate_and_activity(s, noise_generator)[0]

    return CNN


def _model_dtype():
    """The models' dtype, float32: convolutions run ten times faster than in float64 on one CPU thread, and the
    scores compared here (correlations, variance fractions) need three digits, not the fifteen of float64."""
    import torch

    return torch.float32


def _segments(n_frames, n_lags, length):
    # Start frames of windows of `length` outputs that tile the recording:
    # output rows are disjoint, inputs overlap by n_lags - 1 frames.
    n_out = n_frames - n_lags + 1
    starts = np.arange(0, max(n_out - length, 0) + 1, length)
    return starts, min(length, n_out)


def _train(network, s, c, n_lags, seed, n_steps, lr, lr_final, batch_segments, segment, l2, l1_activity,
           callback=None):
    import torch

    from . import torch_utils, training

    x = torch_utils.tensor(s, dtype=_model_dtype())
    y = torch_utils.tensor(c[n_lags - 1:], dtype=_model_dtype())
    starts, length = _segments(s.shape[0], n_lags, segment)
    offsets = torch.arange(length + n_lags - 1)
    out_offsets = torch.arange(length)
    weights = [p for name, p in network.named_parameters() if "weight" in name]

    def loss(model, start):
        xb = x[start[:, None] + offsets]
        yb = y[start[:, None] + out_offsets]
        rate, activity = model.rate_and_activity(xb)
        nll = (rate - yb * torch.log(rate)).mean()
        penalty = l2 * sum((w ** 2).sum() for w in weights) + l1_activity * activity
        return nll + penalty, {"nll": nll}

    network.train()
    history = training.fit(network, loss, [starts], n_steps, seed, lr=lr, lr_final=lr_final,
                           batch_size=min(batch_segments, len(starts)), record_every=max(n_steps // 20, 1),
                           callback=callback)
    network.eval()
    return history


def _init_output_bias(bias, c, eps):
    import torch

    # Start the softplus output at the mean count: softplus(b) + eps = mean.
    mean = np.maximum(c.mean(axis=0) - eps, 1e-3)
    with torch.no_grad():
        bias.copy_(torch.as_tensor(np.log(np.expm1(mean)), dtype=bias.dtype))


def _softplus(z):
    return np.logaddexp(0.0, z)


def _design(s, n_lags):
    # Row j holds frames j .. j + n_lags - 1 (oldest first), pixels last: the
    # order of a filter of shape (n_lags, *frame).
    windows = np.lib.stride_tricks.sliding_window_view(s, n_lags, axis=0)   # (n_out, *frame, n_lags)
    return np.moveaxis(windows, -1, 1).reshape(windows.shape[0], -1)


def _poisson_softplus(X, Y, W, b, l2):
    r"""Per-cell mean Poisson loss of a softplus-linear model and its gradients.

    The loss is :math:`\langle \mathrm{sp}(z) - n \log\mathrm{sp}(z)\rangle_t +
    l_2\lVert w\rVert^2` with :math:`z = Xw + b`. Both :math:`\mathrm{sp}`
    and :math:`-\log\mathrm{sp}` are convex (softplus is log-concave), so the
    loss is convex in :math:`(w, b)`. Far below zero :math:`\log\mathrm{sp}(z)
    = z + O(e^{z})` and :math:`\sigma(z)/\mathrm{sp}(z) = 1 + O(e^{z})`,
    used there to avoid underflow.
    """
    # The products with the design run in its dtype (float32 for speed in
    # the fit, see _ConvexLN); everything else in float64.
    z = (X @ W.astype(X.dtype)).astype(float) + b
    sp = _softplus(z)
    low = z < -30.0
    log_sp = np.where(low, z, np.log(np.where(low, 1.0, sp)))
    sigma = 0.5 * (1.0 + np.tanh(0.5 * z))
    ratio = np.where(low, 1.0, sigma / np.where(low, 1.0, sp))
    n = X.shape[0]
    loss = (sp - Y * log_sp).sum(axis=0) / n + l2 * (W ** 2).sum(axis=0)
    dz = (sigma - Y * ratio) / n
    return loss, (X.T @ dz.astype(X.dtype)).astype(float) + 2.0 * l2 * W, dz.sum(axis=0)


class _ConvexLN:
    """Minimiser of the per-cell convex LN loss on one design, by L-BFGS in whitened coordinates.

    The Hessian of the loss at the mean rate :math:`m` is close to
    :math:`a\\,C + 2 l_2 I`, with :math:`C` the covariance of the design and
    :math:`a = \\sigma(z_0)^2/\\mathrm{sp}(z_0)` the expected curvature of the
    Poisson loss at :math:`\\mathrm{sp}(z_0) = m`. Optimising over
    :math:`v = (aC + 2l_2)^{1/2} w` (in the eigenbasis of :math:`C`) makes
    the problem nearly isotropic, so L-BFGS converges in tens of iterations
    even for natural stimuli, whose covariance spans many decades. The
    reparametrisation changes the path, not the minimum.
    """

    def __init__(self, s, n_lags, mean_counts, chunk=4096):
        # The design (windows of n_lags frames, one row each) is never held in
        # float64: its float32 copy serves L-BFGS, and the covariance and the
        # mean are summed in float64 over blocks of rows. Two fits at once (as
        # in fit_ln_and_cnn) then need 0.2 GB, not 1 GB, on 24,000 frames.
        self.s, self.n_lags = s, n_lags
        n = s.shape[0] - n_lags + 1
        blocks = [(i, min(i + chunk, n)) for i in range(0, n, chunk)]
        total = sum(_design(s[i:j + n_lags - 1], n_lags).sum(axis=0) for i, j in blocks)
        self.mu = total / n
        #: The centred design in float32, for the products inside L-BFGS (twice as fast as float64).
        self.Xc32 = np.empty((n, self.mu.size), dtype=np.float32)
        gram = np.zeros((self.mu.size, self.mu.size))
        for i, j in blocks:
            block = _design(s[i:j + n_lags - 1], n_lags) - self.mu
            self.Xc32[i:j] = block
            gram += block.T @ block
        self._xc64 = None
        lam, self.U = np.linalg.eigh(gram / n)
        self.lam = np.maximum(lam, 0.0)
        m = np.maximum(mean_counts, 1e-6)
        self.z0 = np.log(np.expm1(m))
        self.curvature = 0.5 * (1.0 + np.tanh(0.5 * self.z0)) ** 2 / m

    def centred(self):
        """The centred design in float64, made on first use (by a fit that polishes)."""
        if self._xc64 is None:
            self._xc64 = _design(self.s, self.n_lags) - self.mu
        return self._xc64

    def fit(self, rows, Y, l2, start=None, tol=1e-7, max_iter=1000, polish=True):
        from scipy import optimize

        D, C = self.Xc32.shape[1], Y.shape[1]
        scale = 1.0 / np.sqrt(self.curvature * self.lam[:, None] + 2.0 * l2)   # (D, C)
        bias_scale = 1.0 / np.sqrt(self.curvature)

        def unpack(theta):
            W = self.U @ (scale * theta[:D * C].reshape(D, C))
            return W, bias_scale * theta[D * C:] + self.z0

        def objective(theta, X):
            W, b = unpack(theta)
            loss, gW, gb = _poisson_softplus(X, Y, W, b, l2)
            return loss.sum(), np.concatenate([(scale * (self.U.T @ gW)).ravel(), bias_scale * gb])

        if start is None:
            theta = np.zeros(D * C + C)
        else:
            W0, b0 = start
            theta = np.concatenate([((self.U.T @ W0) / scale).ravel(), (b0 + self.mu @ W0 - self.z0) / bias_scale])
        n_iter = 0
        # Most of the way in float32 products, then (if polish) the last
        # digits in float64, from there: a few more iterations.
        for X in (self.Xc32[rows], self.centred()[rows]) if polish else (self.Xc32[rows],):
            result = optimize.minimize(objective, theta, args=(X,), jac=True, method="L-BFGS-B",
                                       options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0, "maxcor": 20})
            theta, n_iter = result.x, n_iter + result.nit
        W, b = unpack(theta)
        # The gradient in the products' dtype of the last stage.
        _, gW, gb = _poisson_softplus(X, Y, W, b, l2)
        gradient_norm = np.sqrt((gW ** 2).sum(axis=0) + gb ** 2)
        # Back to the uncentred design: z = (X - mu) W + b = X W + (b - mu W).
        if result.nit >= max_iter:
            raise ValueError(f"the LN fit did not converge in max_iter = {max_iter} iterations "
                             f"(gradient norm {gradient_norm.max():.2g}); raise max_iter")
        return W, b - self.mu @ W, n_iter, gradient_norm


def fit_ln(stimulus, counts, n_lags, l2=None, l2_grid=(1e-4, 1e-3, 1e-2, 1e-1, 1.0),
           validation_fraction=0.2, refit=True, tol=1e-7, max_iter=1000):
    r"""Fit the linear-nonlinear (LN) model exactly: one space-time filter and a softplus per cell, Poisson loss.

    .. math::

        \hat r_{tc} = \operatorname{softplus}\Big(\sum_{\tau=0}^{L-1}\sum_p
        W_{c\tau p}\, s_{t-L+1+\tau,\,p} + b_c\Big) ,

    minimising, for each cell,

    .. math::

        \big\langle \hat r_{tc} - n_{tc} \log \hat r_{tc}\big\rangle_t + l_2 \lVert W_c\rVert^2 ,

    which is **convex** in :math:`(W_c, b_c)`: softplus is convex and
    log-concave. The minimum is found by full-batch L-BFGS on the lagged
    design matrix, preconditioned by the stimulus covariance (see
    :class:`_ConvexLN`), to a gradient norm below ``tol``: it is the best LN
    model of the data, not an approximation to it.

    The penalty :math:`l_2` is chosen **per cell on held-out data** unless
    given: the last ``validation_fraction`` of the frames is set aside, the
    model is fitted on the rest for every value in ``l2_grid`` (from the
    largest, each fit starting from the previous one), each cell keeps the
    value with the lowest validation loss, and (if ``refit``) the model is
    refitted on all the frames with those penalties. With ``refit=False`` the
    model returned is the one fitted on the first frames alone, which is
    the fair partner of a CNN trained with early stopping on the same split
    (:func:`fit_cnn`).

    The fits along the penalty path stop at a gradient of ``1000 * tol``
    (largest component) in the whitened coordinates, where the Hessian is
    close to the identity, so that the loss is then within about
    :math:`10^6 D\, \mathrm{tol}^2/2` of its minimum (:math:`5\times
    10^{-6}` for the default ``tol`` and :math:`D = 1000` weights, far below
    the differences between penalties); products with the design run in
    float32 there. The final fit (with ``refit``) goes on to ``tol`` in
    float64.

    Parameters
    ----------
    stimulus : array_like, shape (n_frames, n_pixels) or (n_frames, height, width)
    counts : array_like, shape (n_frames, n_cells)
        Spike counts, non-negative; every cell must spike at least once.
    n_lags : int
        Frames of history, :math:`1 \le L \le` n_frames.
    l2 : float or array_like, optional
        The penalty, :math:`\ge 0` (one value, or one per cell); if given,
        no validation split is made.
    l2_grid : sequence of float, optional
        Candidate penalties, each :math:`\ge 0`.
    validation_fraction : float, optional
        Fraction of the frames held out to choose the penalty, in (0, 0.5].
    refit : bool, optional
        Refit on all the frames with the chosen penalties (default), or keep
        the fits on the first ``1 - validation_fraction`` of them.
    tol : float, optional
        Gradient-norm tolerance of L-BFGS, :math:`> 0`.
    max_iter : int, optional
        Iteration cap per fit, :math:`\ge 1`.

    Returns
    -------
    RetinaModel
        Its ``history`` holds the penalty path and the final fit's iterations
        and gradient norms.

    Raises
    ------
    ValueError
        For bad arguments, and if the fit does not converge within
        ``max_iter`` iterations.
    """
    s, c, n_lags = _check_data(stimulus, counts, n_lags)
    tol = v.real("tol", tol, lo=0.0, lo_open=True)
    path_tol = 1000 * tol
    max_iter = v.integer("max_iter", max_iter, lo=1)
    Y = c[n_lags - 1:]
    n_cells = Y.shape[1]
    if np.any(Y.sum(axis=0) == 0):
        raise ValueError("counts must hold at least one spike in every cell (after the first n_lags - 1 frames)")
    solver = _ConvexLN(s, n_lags, Y.mean(axis=0))
    history = {}
    if l2 is None:
        grid = np.sort(v.real_array("l2_grid", l2_grid, lo=0.0).ravel())[::-1]
        if grid.size == 0:
            raise ValueError("l2_grid must hold at least one penalty")
        validation_fraction = v.real("validation_fraction", validation_fraction, lo=0.0, hi=0.5, lo_open=True)
        n_fit = int(round(len(Y) * (1 - validation_fraction)))
        if n_fit < 2 or len(Y) - n_fit < 2 or np.any(Y[:n_fit].sum(axis=0) == 0):
            raise ValueError(f"too few frames ({len(Y)} windows) to hold out validation_fraction = "
                             f"{validation_fraction:g} and keep spikes of every cell in both parts")
        validation = np.empty((len(grid), n_cells))
        path, start, path_iter = [], None, []
        # Rows n_fit on of the design: the windows that start at frame n_fit.
        X_validation = _design(s[n_fit:], n_lags)
        for i, penalty in enumerate(grid):
            # The choice needs the validation loss to a few digits, not the
            # optimum to seven: a looser tolerance halves the iterations.
            W, b, its, _ = solver.fit(slice(0, n_fit), Y[:n_fit], penalty, start, path_tol, max_iter, polish=False)
            start = (W, b)
            path.append(start)
            path_iter.append(its)
            validation[i] = _poisson_softplus(X_validation, Y[n_fit:], *start, 0.0)[0]
        best = np.argmin(validation, axis=0)
        l2 = grid[best]
        cells = np.arange(n_cells)
        # Each cell's final fit starts from its own chosen fit.
        W = np.array([path[i][0][:, c] for c, i in zip(cells, best)]).T
        b = np.array([path[i][1][c] for c, i in zip(cells, best)])
        history.update(l2_grid=grid, validation_nll=validation, path_iter=np.array(path_iter))
        if not refit:
            history.update(l2=l2, n_fit_frames=n_fit + n_lags - 1)
            return RetinaModel("ln", None, n_lags, s.shape[1:], history,
                               weights=W.T.reshape(n_cells, n_lags, *s.shape[1:]), bias=b)
        start = (W, b)
    else:
        l2 = np.broadcast_to(v.real_array("l2", l2, lo=0.0), (n_cells,)).copy()
        start = None
    W, b, n_iter, gradient_norm = solver.fit(slice(None), Y, l2, start, tol, max_iter)
    history.update(l2=l2, n_iter=n_iter, gradient_norm=gradient_norm, n_fit_frames=s.shape[0])
    weights = W.T.reshape(n_cells, n_lags, *s.shape[1:])
    return RetinaModel("ln", None, n_lags, s.shape[1:], history, weights=weights, bias=b)


def fit_cnn(stimulus, counts, n_lags, seed=0, channels=(8, 8), kernels=(11, 7), noise=0.1, n_steps=1000,
            lr=1e-2, lr_final=1e-3, l2=1e-4, l1_activity=1e-3, batch_segments=8, segment=64, eps=1e-3,
            validation_fraction=None, validate_every=50, patience=None):
    r"""Fit the authors' CNN: history as channels, conv, ReLU, conv, ReLU, dense, softplus; Poisson loss.

    Layer 1 has ``channels[0]`` filters spanning all ``n_lags`` frames and
    ``kernels[0]`` pixels (a square on images); layer 2 ``channels[1]``
    filters of ``kernels[1]`` positions across layer 1's channels; a dense
    layer maps every unit of layer 2 to each cell, then softplus plus
    ``eps``. Gaussian noise of s.d. ``noise`` enters both hidden layers
    before their ReLU during training (and in :meth:`RetinaModel.predict`
    with ``noise=True``). The loss is the Poisson negative log-likelihood
    plus ``l2`` times the squared weights plus ``l1_activity`` times the
    mean absolute activity of layer 2. Kernels larger than the image shrink
    to fit: layer 2 keeps at least one position. The output biases start at
    the mean counts. Training is Adam on minibatches of ``batch_segments``
    stretches of ``segment`` frames, the learning rate decaying from ``lr``
    to ``lr_final``, in float32, torch on one thread, seeded by ``seed``.

    With ``validation_fraction`` the last fraction of the frames is held
    out, the network trains on the rest, its Poisson loss on the held-out
    frames is measured every ``validate_every`` steps, and the network
    returned is the one with the lowest held-out loss (**early stopping**,
    as the authors trained theirs). With ``patience``, training also ends
    once that many validations in a row have not improved on the best.

    ``n_steps=0`` returns the network as initialised: the untrained baseline
    for "better than chance". The paper's CNN saw 40 frames of 50 x 50
    pixels, with 8 filters of 15 x 15 then 8 of 9 x 9; the defaults here are
    scaled to a 40-pixel strip (11 then 7 pixels) and train in about 7 s on
    24,000 frames with 25 lags on one CPU thread.

    Parameters
    ----------
    stimulus, counts, n_lags
        As in :func:`fit_ln`.
    validation_fraction : float, optional
        Fraction of the frames held out for early stopping, in (0, 0.5];
        none by default.
    validate_every : int, optional
        Steps between validations, :math:`\ge 1`.
    patience : int, optional
        Validations without improvement before training ends,
        :math:`\ge 1`; by default training runs all ``n_steps``.

    Returns
    -------
    RetinaModel
    """
    import torch

    from . import torch_utils

    channels = tuple(v.integer("channels", c, lo=1) for c in channels)
    kernels = tuple(v.integer("kernels", k, lo=1) for k in kernels)
    if len(channels) != 2 or len(kernels) != 2:
        raise ValueError(f"channels and kernels must each hold two integers, got {channels} and {kernels}")
    noise = v.real("noise", noise, lo=0.0)
    l1_activity = v.real("l1_activity", l1_activity, lo=0.0)
    s, c, n_lags = _check_data(stimulus, counts, n_lags)
    seed = v.integer("seed", seed, lo=0)
    n_steps = v.integer("n_steps", n_steps, lo=0)
    lr = v.real("lr", lr, lo=0.0, lo_open=True)
    l2 = v.real("l2", l2, lo=0.0)
    eps = v.real("eps", eps, lo=0.0, lo_open=True)
    batch_segments = v.integer("batch_segments", batch_segments, lo=1)
    segment = v.integer("segment", segment, lo=1)
    validate_every = v.integer("validate_every", validate_every, lo=1)
    if patience is not None:
        patience = v.integer("patience", patience, lo=1)
    n_fit = s.shape[0]
    if validation_fraction is not None:
        validation_fraction = v.real("validation_fraction", validation_fraction, lo=0.0, hi=0.5, lo_open=True)
        n_fit = int(round(s.shape[0] * (1 - validation_fraction)))
        if n_fit < n_lags + 1 or s.shape[0] - n_fit < n_lags + 1:
            raise ValueError(f"too few frames ({s.shape[0]}) to hold out validation_fraction = "
                             f"{validation_fraction:g} with n_lags = {n_lags}")
    shape = s.shape[1:]
    CNN = _networks()
    rng = np.random.default_rng(seed)
    # Shrink the kernels so that layer 2 keeps at least one position.
    k1 = [min(kernels[0], n) for n in shape]
    k2 = [min(kernels[1], n - a + 1) for n, a in zip(shape, k1)]
    network = CNN(n_lags, shape, c.shape[1], channels, (k1, k2), noise, eps)
    gen = torch_utils.generator(rng)
    with torch.no_grad():
        for layer in (network.conv1, network.conv2, network.dense):
            fan_in = layer.weight[0].numel()
            layer.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
            layer.bias.zero_()
    network.train_generator = torch_utils.generator(rng)
    network.to(_model_dtype())
    _init_output_bias(network.dense.bias, c[n_lags - 1:n_fit], eps)
    if n_steps == 0:
        network.eval()
        history = {"step": np.zeros(0), "loss": np.zeros(0), "nll": np.zeros(0)}
        return RetinaModel("cnn", network, n_lags, shape, history)
    callback, tracker = None, None
    if n_fit < s.shape[0]:
        # The held-out windows start after the training frames' last window.
        tracker = _EarlyStopping(network, s[n_fit:], c[n_fit:], n_lags, validate_every, patience)
        callback = tracker
    history = _train(network, s[:n_fit], c[:n_fit], n_lags, rng, n_steps, lr, lr_final, batch_segments, segment,
                     l2, l1_activity, callback)
    if tracker is not None:
        history.update(tracker.restore_best())
    return RetinaModel("cnn", network, n_lags, shape, history)


def fit_ln_and_cnn(data, n_lags, ln_options=None, cnn_options=None, parallel=None):
    r"""Fit an LN model and a CNN to each of several recordings.

    ``data`` maps a name to ``(stimulus, counts)``; ``ln_options`` and
    ``cnn_options`` are keyword arguments of :func:`fit_ln` and
    :func:`fit_cnn`. The models are exactly those of separate calls to the
    two functions.

    With ``parallel`` (by default, when this process may use more than one
    core and at least ``WORKER_MEMORY_GB`` of memory is free) the fits run
    in worker processes, one per core, the CNNs first
    because they take longest; each fit still uses one core. Processes, not
    threads: a thread training the CNNs beside the LN fits made them three
    times slower whenever another program kept a core busy (the two
    contended for the interpreter lock), while processes on a busy machine
    take what the fits take one after the other. Where worker processes
    cannot start, or one dies, the fits run here, one after the other.

    Parameters
    ----------
    data : dict
        ``{name: (stimulus, counts)}``, at least one entry.
    n_lags : int
        As in :func:`fit_ln`.
    ln_options, cnn_options : dict, optional
    parallel : bool, optional
        Fit in worker processes; by default when more than one core and
        ``WORKER_MEMORY_GB`` of memory are available.

    Returns
    -------
    dict
        ``{name: {"LN": RetinaModel, "CNN": RetinaModel}}``, in the order of ``data``.
    """
    if not isinstance(data, dict) or not data:
        raise ValueError("data must be a non-empty dict of name -> (stimulus, counts)")
    if parallel is not None and not isinstance(parallel, bool):
        raise ValueError(f"parallel must be True, False or None, got {parallel!r}")
    options = {"LN": dict(ln_options or {}), "CNN": dict(cnn_options or {})}
    jobs = [(name, model) for model in ("CNN", "LN") for name in data]
    cores = _available_cores()
    if parallel is None:
        parallel = cores > 1 and _available_memory_gb() >= WORKER_MEMORY_GB
    if parallel:
        # Loaded before the workers fork, torch's libraries are shared with
        # them instead of loaded by each (0.2 GB apiece); the models come
        # back to this process, which needs torch to use them anyway.
        importlib.import_module(".torch_utils", __package__)
    pool = _worker_pool(min(max(cores, 2), len(jobs))) if parallel else None
    fits = {}
    if pool is not None:
        from concurrent.futures.process import BrokenProcessPool

        with pool:
            try:
                # Frozen, this process's objects are left alone by the
                # workers' garbage collector, so their pages stay shared.
                gc.freeze()
                try:
                    futures = {job: pool.submit(_fit, job[1], *data[job[0]], n_lags, options[job[1]])
                               for job in jobs}
                finally:
                    gc.unfreeze()
                fits = {job: future.result() for job, future in futures.items()}
            except BrokenProcessPool:   # a worker died (killed, out of memory): fit here instead
                fits = {}
    for job in jobs:
        if job not in fits:
            fits[job] = _fit(job[1], *data[job[0]], n_lags, options[job[1]])
    return {name: {"LN": fits[name, "LN"], "CNN": fits[name, "CNN"]} for name in data}


def _fit(model, stimulus, counts, n_lags, options):
    return (fit_ln if model == "LN" else fit_cnn)(stimulus, counts, n_lags, **options)


#: Free memory needed to fit in worker processes by default: the two workers
#: add about 0.4 GB to the chapter's 0.7 GB (measured as the summed
#: proportional set size of the kernel and its workers).
WORKER_MEMORY_GB = 1.0


def _available_memory_gb():
    """Memory this process may still take, in GB: the machine's available memory, or less under a cgroup limit."""
    available = float("inf")
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) / 2**20
    except OSError:
        pass
    try:   # a container's limit (cgroup v2), as on Binder
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read())
        if limit != "max":
            available = min(available, (int(limit) - used) / 2**30)
    except (OSError, ValueError):
        pass
    return available


def _available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


def _worker_pool(n_workers):
    """A pool of ``n_workers`` processes, or None where processes cannot be started."""
    import concurrent.futures
    import multiprocessing

    # fork where there is one: the workers start at once, with the data and
    # the library already in memory, and single-threaded torch runs in a
    # forked child (as in torch's own data-loading workers). spawn would
    # start fresh interpreters that import the caller's script again, and
    # run a script without an ``if __name__ == "__main__"`` guard twice.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    try:
        return concurrent.futures.ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context(method))
    except (OSError, ImportError, NotImplementedError):   # no process semaphores, say
        return None


class _EarlyStopping:
    """Callback for :func:`statmech_dl.training.fit`: held-out Poisson loss every few steps, best weights kept."""

    def __init__(self, network, s, c, n_lags, every, patience=None):
        import torch

        from . import torch_utils

        self.network, self.every, self.patience = network, every, patience
        self.x = torch_utils.tensor(s, dtype=_model_dtype())[None]
        self.y = torch_utils.tensor(c[n_lags - 1:], dtype=_model_dtype())
        self.steps, self.losses = [], []
        self.best, self.best_state = np.inf, None
        self._torch = torch

    def __call__(self, step, network):
        if step % self.every:
            return
        torch = self._torch
        network.eval()
        with torch.no_grad():
            rate = network(self.x)[0]
            loss = float((rate - self.y * torch.log(rate)).mean())
        network.train()
        self.steps.append(step)
        self.losses.append(loss)
        if loss < self.best:
            self.best = loss
            self.best_state = {k: t.detach().clone() for k, t in network.state_dict().items()}
        since_best = len(self.losses) - 1 - int(np.argmin(self.losses))
        return self.patience is not None and since_best >= self.patience

    def restore_best(self):
        if self.best_state is not None:
            self.network.load_state_dict(self.best_state)
        self.network.eval()
        best_step = self.steps[int(np.argmin(self.losses))] if self.losses else 0
        return {"validation_step": np.array(self.steps), "validation_nll": np.array(self.losses),
                "best_step": best_step}


# ---------------------------------------------------------------------------
# Metrics, per cell
# ---------------------------------------------------------------------------

def _trials(trials, min_repeats=2):
    r = v.matrix("trials", trials, ndim=3)
    if r.shape[0] < min_repeats or r.shape[1] < 2:
        raise ValueError(f"trials must have shape (n_repeats >= {min_repeats}, n_frames >= 2, n_cells), got {r.shape}")
    if np.any(r < 0):
        raise ValueError("trials must hold non-negative counts")
    return r


def _per_cell(name, x, shape):
    a = v.matrix(name, x)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (n_frames, n_cells) to match, got {a.shape}")
    return a


def correlation(prediction, rate):
    """Pearson's r between ``prediction`` and ``rate`` for each cell (columns of two ``(n_frames, n_cells)`` arrays).

    The paper's headline score, with ``rate`` the trial-averaged response to
    held-out repeats.
    """
    r = v.matrix("rate", rate)
    p = _per_cell("prediction", prediction, r.shape)
    if r.shape[0] < 2:
        raise ValueError(f"rate must have at least 2 frames, got {r.shape[0]}")
    if np.any(p.std(axis=0) == 0) or np.any(r.std(axis=0) == 0):
        raise ValueError("prediction and rate must vary over frames in every cell")
    pc, rc = p - p.mean(axis=0), r - r.mean(axis=0)
    return (pc * rc).sum(axis=0) / np.sqrt((pc ** 2).sum(axis=0) * (rc ** 2).sum(axis=0))


def split_half_reliability(trials, rng, n_splits=50):
    r"""The retina's reliability per cell: the raw split-half correlation and its Spearman–Brown correction.

    The repeats are split at random into two halves (``n_splits`` times);
    :math:`\rho_{1/2}` is the mean correlation between the halves' averages,
    and

    .. math::

        \rho_K = \frac{2\rho_{1/2}}{1 + \rho_{1/2}}

    estimates the correlation between two independent averages of all
    :math:`K` repeats. For a true rate :math:`\lambda_t` with noise variance
    :math:`\sigma^2` per trial, :math:`\rho_K \to \operatorname{Var}\lambda /
    (\operatorname{Var}\lambda + \sigma^2/K)`, and the best possible
    :func:`correlation` with the :math:`K`-trial average is
    :math:`\sqrt{\rho_K}`.

    Returns
    -------
    raw, spearman_brown : ndarray, shape (n_cells,)
    """
    r = _trials(trials)
    rng = v.as_generator(rng)
    n_splits = v.integer("n_splits", n_splits, lo=1)
    K = r.shape[0]
    half = K // 2
    rhos = np.zeros(r.shape[2])
    for _ in range(n_splits):
        order = rng.permutation(K)
        a, b = r[order[:half]].mean(axis=0), r[order[half:2 * half]].mean(axis=0)
        ac, bc = a - a.mean(axis=0), b - b.mean(axis=0)
        denominator = np.sqrt((ac ** 2).sum(axis=0) * (bc ** 2).sum(axis=0))
        if np.any(denominator == 0):
            raise ValueError("trials must vary over frames in every cell and half of the repeats")
        rhos += (ac * bc).sum(axis=0) / denominator
    raw = rhos / n_splits
    return raw, 2 * raw / (1 + raw)


def noise_variance(trials):
    r"""The trial-to-trial variance per cell, :math:`\langle\operatorname{Var}_k n_{kt}\rangle_t` (unbiased over repeats)."""
    r = _trials(trials)
    return np.mean(np.var(r, axis=0, ddof=1), axis=0)


def variance_explained(prediction, trials):
    r"""FEV per cell, not corrected for noise: :math:`1 - \langle(n_{kt} - p_t)^2\rangle/\operatorname{Var}(n)` over single trials.

    Even the true rate scores below 1, since no prediction explains the
    trial-to-trial noise: it loses :math:`\sigma^2_{\mathrm{noise}} /
    \operatorname{Var}(n)`.
    """
    r = _trials(trials, min_repeats=1)
    p = _per_cell("prediction", prediction, r.shape[1:])
    return 1 - np.mean((r - p) ** 2, axis=(0, 1)) / np.var(r, axis=(0, 1))


def explainable_variance_explained(prediction, trials):
    r"""FEVE per cell: the fraction of the *explainable* variance of single trials that ``prediction`` explains.

    .. math::

        \mathrm{FEVE} = 1 - \frac{\langle(n_{kt} - p_t)^2\rangle - \sigma^2_{\mathrm{noise}}}
                               {\operatorname{Var}(n) - \sigma^2_{\mathrm{noise}}} ,

    with :func:`noise_variance`. The true rate scores 1 up to sampling
    error and a constant prediction at the mean about 0; unlike FEV it does
    not charge a model for the noise of the recording.
    """
    r = _trials(trials)
    p = _per_cell("prediction", prediction, r.shape[1:])
    noise = noise_variance(r)
    explainable = np.var(r, axis=(0, 1)) - noise
    if np.any(explainable <= 0):
        raise ValueError("trials have a cell with no explainable variance: its noise is as large as its variance")
    return 1 - (np.mean((r - p) ** 2, axis=(0, 1)) - noise) / explainable


def fano_factor(trials):
    r"""The Fano factor per cell, :math:`\langle\operatorname{Var}_k n_{kt}\rangle_t / \langle\bar n_t\rangle_t`.

    1 for Poisson spiking; below 1 is sub-Poisson, as retinal ganglion cells
    are.
    """
    r = _trials(trials)
    mean = r.mean(axis=(0, 1))
    if np.any(mean == 0):
        raise ValueError("trials have a cell with no spikes: its Fano factor is undefined")
    return noise_variance(r) / mean


def rank1_filter(kernel):
    r"""The best rank-1 space–time decomposition of a filter, ``(n_lags, n_positions)``.

    The SVD :math:`K = \sum_i s_i u_i v_i^\top` gives the temporal profile
    :math:`u_1` and the spatial profile :math:`v_1`, each of unit norm (signs
    as the SVD returns them), and the fraction :math:`s_1^2/\sum_i s_i^2`
    of the filter's energy that they capture.

    Returns
    -------
    temporal : ndarray, shape (n_lags,)
    spatial : ndarray, shape (n_positions,)
    fraction : float
    """
    K = v.matrix("kernel", kernel)
    if not np.any(K):
        raise ValueError("kernel must not be all zeros")
    u, s, vt = np.linalg.svd(K, full_matrices=False)
    return u[:, 0], vt[0], float(s[0] ** 2 / np.sum(s ** 2))


def _alignments(a, b, max_shift):
    # (signed cos, shift) of a moved by each shift in -m..m against b, both centred on a
    # zero-padded canvas.
    n = max(len(a), len(b)) + 2 * max_shift
    pb = np.zeros(n)
    centre = max_shift + (n - 2 * max_shift - len(b)) // 2
    pb[centre:centre + len(b)] = b
    out = []
    for shift in range(-max_shift, max_shift + 1):
        pa = np.zeros(n)
        start = max_shift + shift + (n - 2 * max_shift - len(a)) // 2
        pa[start:start + len(a)] = a
        out.append((pa @ pb / (np.linalg.norm(a) * np.linalg.norm(b)), shift))
    return out


def _profiles(learned, true, max_shift):
    a = v.real_array("learned", learned)
    b = v.real_array("true", true)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"learned and true must be 1-d profiles, got shapes {a.shape} and {b.shape}")
    max_shift = v.integer("max_shift", max_shift, lo=0)
    if not np.any(a) or not np.any(b):
        raise ValueError("learned and true must not be all zeros")
    return a, b, max_shift


def filter_similarity(learned, true, max_shift=0, signed=False):
    r"""The largest :math:`|\cos|` between two profiles over relative shifts up to ``max_shift``.

    The vectors are compared on their overlap after shifting ``learned`` by
    :math:`-m, \dots, m` samples (zero padded), so neither a sign flip nor a
    small displacement counts as a mismatch. With ``signed=True`` the cosine
    at that best alignment keeps its sign: negative for a sign-flipped match,
    which tells an OFF filter from an ON one.
    """
    a, b, max_shift = _profiles(learned, true, max_shift)
    cos = max((c for c, _ in _alignments(a, b, max_shift)), key=abs)
    return float(cos if signed else abs(cos))


def align_profile(learned, true, max_shift=0):
    """``learned`` shifted (zero padded) and sign-flipped as :func:`filter_similarity` matches it to ``true``.

    Both profiles must have the same length; the result has it too, for plotting the two together.
    """
    a, b, max_shift = _profiles(learned, true, max_shift)
    if len(a) != len(b):
        raise ValueError(f"learned and true must have the same length, got {len(a)} and {len(b)}")
    cos, shift = max(_alignments(a, b, max_shift), key=lambda pair: abs(pair[0]))
    out = np.zeros_like(a)
    if shift >= 0:
        out[shift:] = a[:len(a) - shift]
    else:
        out[:shift] = a[-shift:]
    return np.sign(cos) * out


def reversing_grating(n_frames, n_pixels, bar_width, half_cycle, phase=0.0, contrast=1.0):
    r"""A square-wave grating whose contrast reverses every ``half_cycle`` frames, shape ``(n_frames, n_pixels)``.

    Bars of ``bar_width`` pixels alternate between :math:`+c` and :math:`-c`
    (``contrast``), shifted by ``phase`` pixels; every ``half_cycle`` frames
    each bar swaps sign. The stimulus of the null test for spatial
    nonlinearity (Hochstein and Shapley 1976): a cell that sums its inputs
    linearly has a phase at which the reversals cancel, while one that pools
    rectified subunits responds to every reversal, at twice the reversal
    frequency.
    """
    n_frames = v.integer("n_frames", n_frames, lo=1)
    n_pixels = v.integer("n_pixels", n_pixels, lo=1)
    bar_width = v.integer("bar_width", bar_width, lo=1)
    half_cycle = v.integer("half_cycle", half_cycle, lo=1)
    phase = v.real("phase", phase)
    contrast = v.real("contrast", contrast, lo=0.0)
    bars = np.where(np.floor((np.arange(n_pixels) - phase) / bar_width) % 2 == 0, 1.0, -1.0)
    sign = np.where((np.arange(n_frames) // half_cycle) % 2 == 0, 1.0, -1.0)
    return contrast * sign[:, None] * bars[None, :]


def harmonic_amplitudes(response, half_cycle):
    r"""Amplitudes of the first and second harmonics of a response to contrast reversal every ``half_cycle`` frames.

    ``response`` has shape ``(n_frames, ...)`` and must span a whole number
    of cycles (:math:`2\times` ``half_cycle`` frames each). The first
    harmonic :math:`F_1` is at the reversal cycle's frequency, the second
    :math:`F_2` at twice it (a response to every reversal). Amplitudes are
    those of the sinusoids, :math:`2|\hat r_k|/n`.

    Returns
    -------
    f1, f2 : ndarray, shape ``response.shape[1:]``
    """
    r = v.real_array("response", response)
    half_cycle = v.integer("half_cycle", half_cycle, lo=1)
    n = r.shape[0]
    if n % (2 * half_cycle) != 0:
        raise ValueError(f"response must span whole cycles of {2 * half_cycle} frames, got {n} frames")
    spectrum = np.fft.rfft(r - r.mean(axis=0), axis=0) * 2 / n
    k = n // (2 * half_cycle)
    return np.abs(spectrum[k]), np.abs(spectrum[2 * k])


def best_unit_correlation(units, targets):
    r"""For each target, the largest :math:`|r|` with any unit: how well a layer recovers known cells.

    ``units`` has shape ``(n_frames, ...)`` (a layer's activities, every
    trailing index a unit) and ``targets`` ``(n_frames, n_targets)`` (for
    example the true bipolar cells at each position). A unit that never
    varies (a dead ReLU) correlates 0 with everything.

    Returns
    -------
    ndarray, shape (n_targets,)
    """
    u = v.real_array("units", units)
    t = v.matrix("targets", targets)
    if u.ndim < 2 or u.shape[0] != t.shape[0]:
        raise ValueError(f"units must have shape (n_frames = {t.shape[0]}, ...) like targets, got {u.shape}")
    u = u.reshape(len(u), -1)
    u = (u - u.mean(axis=0)) / (u.std(axis=0) + 1e-12)
    t = (t - t.mean(axis=0)) / (t.std(axis=0) + 1e-12)
    return np.max(np.abs(t.T @ u), axis=1) / len(t)
