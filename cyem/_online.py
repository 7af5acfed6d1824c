"""Online (stepwise) EM for a stream, one chunk per ``partial_fit`` call.

The stream keeps running sufficient statistics s_t, per unit of sample
weight, and after every chunk sets the parameters to the M step of s_t
(Cappe and Moulines, 2009, "On-line expectation-maximization algorithm for
latent data models", JRSS B 71(3)):

    s_t = (1 - g_t) s_{t-1} + g_t * stats(chunk_t; theta_{t-1}) / W_t
    theta_t = M(s_t)

where stats(chunk; theta) is the fused kernel pass (E step and sums) with
the current parameters and W_t the chunk's total weight. The statistics are
kept as centred moments (:class:`Moments`), so that chunks whose sums were
shifted by different means average exactly.

Sample weights are in one unit across calls: a row of weight 2000 counts
2000 times a row of weight 1 of another call, as in ``fit``. The step is

    g_t = r_t gamma_t / (1 + (r_t - 1) gamma_t),   gamma_t = (t + t0)^-alpha,
    r_t = W_t / mean(W_0, ..., W_{t-1})            (t = 1, 2, ...)

(:func:`weighted_step`): a chunk carrying r times the weight of the
earlier chunks' mean moves the statistics about as far as r such chunks
would (r gamma_t while that is small; the chunk replaces the statistics as
r grows, and is ignored as r -> 0). Hence:

- chunks of equal total weight (the usual stream of equal-sized,
  unweighted chunks) take exactly the steps gamma_t;
- multiplying every weight of every call by one constant changes nothing;
- multiplying one call's weights by c weighs that chunk c times more
  against the others (a scalar ``sample_weight`` included); a chunk of
  twice the rows likewise counts twice;
- with alpha = 1 and t0 = 1, s_t is exactly the average of the chunks'
  per-unit-weight statistics weighted by their total weights W_t.

The first call (t = 0) fixes the frame from its chunk, starts the
parameters with the estimator's ``init_params`` on that chunk (or its
``*_init`` values; or, if the estimator is already fitted, its fitted
parameters) and sets s_0 to that chunk's statistics. A later ``fit``, or
a change of ``n_components``, ``covariance_type`` or ``reg_covar``,
starts a new stream at the next call.

Step sizes: any alpha in (0.5, 1] satisfies the Robbins-Monro conditions
(sum gamma = inf, sum gamma^2 < inf) under which the recursion converges
to a stationary point of the likelihood. alpha = 0.6 is the value Cappe
and Moulines use and close to the 0.5-0.7 range Liang and Klein (2009,
"Online EM for unsupervised models", NAACL) found best for mini-batches:
early statistics, computed with poor parameters, are forgotten quickly.
alpha = 1 with t0 = 1 weights all chunks by their total weight (a running
average), the most efficient choice once the parameters are good but the
slowest to forget a bad start. t0 = 2 (Liang and Klein's offset) makes the
first step 3^-0.6 = 0.52 rather than 1, so the second chunk does not
simply replace the first. At t = 200 the step is ~0.04: the estimate then averages
roughly 2/gamma ~ 50 chunks.
"""

from dataclasses import dataclass, replace

import numpy as np

from . import _params as uni
from . import _params_md as md
from . import _validation as v
from ._em import EMRun
from ._frame import Frame
from ._model import make_model
from ._threads import single_threaded_blas
from .chunked import FrameModel

#: Online EM step sizes gamma_t = (t + t0)^-alpha (see the module notes).
DEFAULT_ALPHA = 0.6
DEFAULT_T0 = 2.0

#: Per-chunk log-likelihoods kept in ``lower_bounds_`` by ``partial_fit``.
ONLINE_HISTORY = 1000


@dataclass
class Moments:
    """Sufficient statistics per unit of sample weight, each component's
    around its own mean, in the frame: the common reference in which the
    statistics of chunks computed with different parameters can be averaged.

    counts (K,)             sum_i v_i r_ik / W
    means (K, d)            sum_i v_i r_ik x_i / sum_i v_i r_ik
    scatter (K, d, d)       sum_i v_i r_ik (x_i - m_k)(x_i - m_k)^T / W
            or (K, d)       its diagonal (univariate, diag, spherical)
    log_lik                 sum_i v_i log p(x_i) / W

    The kernels' sums S_k, Q_k are shifted by the means mu_k of the parameters
    they were computed with, which change from chunk to chunk; averaging them
    needs a common reference. Raw moments around the frame origin would be
    one (sum r x', sum r x'^2 are well scaled since |x'| <= ~1), but going
    back to central moments would then subtract nearly equal numbers for a
    narrow component far from the origin. Centred moments merge exactly and
    without that cancellation (Chan, Golub and LeVeque's pairwise update, see
    :func:`blend`), so they are what the stream keeps.
    """

    counts: np.ndarray
    means: np.ndarray
    scatter: np.ndarray
    log_lik: float


def _split_kernel_stats(stats, params):
    """(L, W, N (K,), S (K, d), Q (K, d) or (K, d, d), centres (K, d))."""
    K = params.weights.shape[0]
    if isinstance(params, uni.MixtureParams):
        L, W, N, S, Q = uni.split_stats(stats, K)
        return L, W, N, S[:, None], Q[:, None], params.means[:, None]
    d = params.means.shape[1]
    L, W, N, S, Q = md.split_stats(stats, K, d, params.kind)
    return L, W, N, S, Q, params.means


def moments_from_stats(stats, params):
    """The kernels' statistics of ``params`` (shifted by ``params.means``) as
    per-unit-weight centred :class:`Moments` (float64).

    m_k = mu_k + S_k / N_k and C_k = Q_k - S_k S_k^T / N_k: the same shifted
    algebra as the M step, so nothing cancels. A component with N_k = 0 gets
    m_k = mu_k and C_k = 0.
    """
    L, W, N, S, Q, centres = _split_kernel_stats(stats, params)
    safe = np.where(N > 0, N, 1.0)
    shift = S / safe[:, None]
    if Q.ndim == 3:
        scatter = Q - S[:, :, None] * shift[:, None, :]
        scatter = 0.5 * (scatter + np.transpose(scatter, (0, 2, 1)))
    else:
        scatter = Q - S * shift
    return Moments(N / W, centres + shift, scatter / W, float(L / W))


def blend(old, new, gamma):
    """(1 - gamma) old + gamma new, as moments (exact, no cancellation).

    With A_k = (1 - gamma) n_k^old, B_k = gamma n_k^new and n_k = A_k + B_k:
    m_k = m_k^old + (B_k / n_k)(m_k^new - m_k^old) and
    C_k = (1 - gamma) C_k^old + gamma C_k^new + (A_k B_k / n_k) delta delta^T,
    delta = m_k^new - m_k^old, which is the centred form of averaging the raw
    moments n, n m, C + n m m^T.
    """
    A = (1.0 - gamma) * old.counts
    B = gamma * new.counts
    n = A + B
    safe = np.where(n > 0, n, 1.0)
    delta = new.means - old.means
    means = old.means + (B / safe)[:, None] * delta
    coef = A * B / safe
    if old.scatter.ndim == 3:
        cross = coef[:, None, None] * delta[:, :, None] * delta[:, None, :]
    else:
        cross = coef[:, None] * delta * delta
    scatter = (1.0 - gamma) * old.scatter + gamma * new.scatter + cross
    return Moments(n, means, scatter, (1.0 - gamma) * old.log_lik + gamma * new.log_lik)


def stats_from_moments(moments, params):
    """(stats, centred params) such that ``model.m_step(stats, centred)`` is
    the M step of ``moments``: the statistics are expressed around the
    moments' own means (S = 0, Q = scatter) and ``centred`` is ``params`` with
    those means (the M step's shifts; for an empty component they are the
    component's current mean, which it then keeps)."""
    m = moments
    header = [m.log_lik, float(m.counts.sum())]
    K = m.counts.shape[0]
    if isinstance(params, uni.MixtureParams):
        stats = np.concatenate([header, m.counts, np.zeros(K), m.scatter[:, 0]])
        return stats, uni.MixtureParams(params.weights, m.means[:, 0].copy(),
                                        params.variances)
    stats = np.concatenate([header, m.counts, np.zeros(m.means.size), m.scatter.ravel()])
    return stats, replace(params, means=m.means.copy())


def step_size(t, alpha=DEFAULT_ALPHA, t0=DEFAULT_T0):
    """gamma_t = (t + t0)^-alpha, the step of the t-th chunk after the first
    when every chunk carries the same total weight."""
    return float((t + t0) ** -alpha)


def weighted_step(gamma, relative_weight):
    """The step of a chunk whose total weight is ``relative_weight`` (r) times
    the mean total weight of the chunks before it:
    r gamma / (1 + (r - 1) gamma) = gamma / (gamma + (1 - gamma) / r).

    The old statistics keep their share (1 - gamma) and the chunk gets gamma
    per mean chunk's worth of weight, renormalised: gamma for r = 1; about
    r gamma when r gamma is small (the weighted stochastic-approximation
    step); 1 as r -> infinity and 0 as r -> 0. With gamma_t = 1 / (t + 1)
    (alpha = 1, t0 = 1) it is W_t / (W_0 + ... + W_t): the running average
    of the chunks' statistics weighted by their total weights.
    """
    if relative_weight == 1.0 or gamma == 1.0:
        return gamma
    with np.errstate(divide="ignore", over="ignore"):
        return float(gamma / (gamma + (1.0 - gamma) / np.float64(relative_weight)))


class OnlineEM:
    """State of a stream fitted by :func:`partial_fit` (stored on the
    estimator as ``_online``)."""

    def __init__(self, model, params, settings):
        self.model = model                  # FrameModel: frame, M step, units
        self.params = params
        self.moments = None
        self.n_chunks = 0
        self.mean_chunk_weight = 0.0        # in the user's units
        self.history = []
        self.settings = (settings.n_components, settings.covariance_type,
                         settings.reg_covar)
        self.fitted_means = None

    def owns(self, settings, fitted_means):
        """Whether an estimator with these settings and these fitted means is
        still this stream's (a ``fit`` in between, or changed settings, start
        a new stream)."""
        same = self.settings == (settings.n_components, settings.covariance_type,
                                 settings.reg_covar)
        return same and fitted_means is self.fitted_means

    def update(self, chunk_model, alpha, t0):
        """One stepwise-EM step on one chunk; returns the M step's report."""
        stats = chunk_model.accumulate(self.params)
        self.history.append(float(stats[0] / stats[1] + self.model.log_lik_shift()))
        del self.history[:-ONLINE_HISTORY]
        # the chunk model divided the weights by 2^weight_exponent
        chunk_weight = float(np.ldexp(stats[1], chunk_model.weight_exponent))
        new = moments_from_stats(stats, self.params)
        if self.moments is None:
            self.moments = new
        else:
            gamma = weighted_step(step_size(self.n_chunks, alpha, t0),
                                  chunk_weight / self.mean_chunk_weight)
            self.moments = blend(self.moments, new, gamma)
        # a running mean cannot overflow where a running sum of weights could
        self.mean_chunk_weight += ((chunk_weight - self.mean_chunk_weight)
                                   / (self.n_chunks + 1))
        self.n_chunks += 1
        self.params, report = self.model.m_step(*stats_from_moments(self.moments,
                                                                     self.params))
        return report

    def step(self, chunk_model, alpha, t0):
        """``update`` with BLAS held to one thread; the stream as an ``EMRun``
        (``n_iter`` = chunks seen, never converged, the chunk's report)."""
        with single_threaded_blas(self.model.covariance_type, self.model.n_features):
            report = self.update(chunk_model, alpha, t0)
        return EMRun(params=self.params, lower_bounds=self.history, n_iter=self.n_chunks,
                     converged=False, report=report)


def stream_weights(sample_weight, n_rows):
    """A chunk's validated weights for ``partial_fit``. A scalar is kept as a
    weight of every row: unlike in ``fit`` it matters, since it weighs the
    chunk against the stream's other chunks."""
    w = v.check_sample_weight(sample_weight, n_rows)
    if w is None and sample_weight is not None:
        w = np.full(n_rows, float(sample_weight))
    return w


def check_step_parameters(alpha, t0):
    """Validated (alpha, t0) of the step sizes (t + t0)^-alpha."""
    alpha = v.check_real(alpha, "alpha", 0.5, inclusive=False)
    if alpha > 1:
        raise ValueError(f"alpha must be in (0.5, 1], got {alpha}")
    return alpha, v.check_real(t0, "t0", 0.0)


def open_stream(x, w, settings):
    """A new stream from its first chunk ``x`` (validated) and weights ``w``:
    ``(state, chunk_model)``. The frame is fixed from this chunk; the caller
    sets ``state.params`` (a start in ``chunk_model``'s frame) before the
    first ``state.step``."""
    s = settings
    d = 1 if x.ndim == 1 else x.shape[1]
    frame = Frame.from_data(x, reg_covar=s.reg_covar)
    chunk_model = make_model(x, w, s.covariance_type, s.reg_covar, s.n_threads, frame)
    # weight_exponent None: each chunk's statistics are divided by its own
    # total weight before they meet another chunk's (OnlineEM.update)
    model = FrameModel(frame, d, s.covariance_type, s.reg_covar, s.n_threads,
                       weight_exponent=None)
    return OnlineEM(model, None, s), chunk_model
