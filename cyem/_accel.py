"""Accelerated EM: SQUAREM steps, then Newton steps on the EM fixed point.

EM is a fixed-point iteration theta <- G(theta) that converges linearly, at a
rate set by the fraction of missing information; with overlapping components
that rate is close to 1 and plain EM crawls (hundreds to hundreds of
thousands of passes). Two accelerators are combined, both built from EM
steps only, so that they hold for every covariance type, fixed parameters,
``reg_covar`` and every data source (one EM step = one kernel pass):

SQUAREM (Varadhan and Roland, 2008, scheme S3)
    Two EM steps from theta_0 give r = theta_1 - theta_0 and
    v = (theta_2 - theta_1) - r; the extrapolation is
    theta' = theta_0 + 2 alpha r + alpha^2 v with alpha = |r| / |v| (alpha = 1
    gives theta_2, plain EM). It is finished with one EM step, G(theta'), and
    accepted only if the log-likelihood of G(theta') is at least that of
    theta_1 (the monotone safeguard; R's ``squarem1`` compares G(theta')
    too). Otherwise the run continues from theta_2, the plain EM iterate.
    alpha is clipped to [step_min, step_max] as in the authors' R package
    ``SQUAREM``: both bounds start at 1, step_max is multiplied by 4 when
    alpha reaches it and divided by 4 (never below 1) when an extrapolation
    at the bound is rejected.

Newton steps on the fixed-point equation G(theta) = theta
    Near the optimum, theta + (I - J)^-1 (G(theta) - theta), with J the
    Jacobian of the EM map, is Newton's method for the fixed point: the
    multivariate Aitken acceleration of Louis (1982), which converges
    quadratically (Jamshidian and Jennrich, 1997; McLachlan and Krishnan,
    2008, sec. 4.7). (I - J) is never formed: GMRES solves the system with
    products J v approximated by a difference of two EM steps,
    (G(theta + h v) - G(theta)) / h, one kernel pass each (a Jacobian-free
    Newton-Krylov method; Knoll and Keyes, 2004). Every Newton point is
    finished with an EM step and accepted under the same monotone safeguard.
    SQUAREM cannot see a direction along which EM's rate is within 1e-5 of 1
    (a likelihood ridge of heavily overlapping components): its
    extrapolations overshoot the curved ridge, while Newton steps follow it.
    Newton's method converges to any fixed point of EM, saddles of the
    likelihood included, where EM then moves away at a rate barely above 1
    (hundreds of passes). Where the Krylov projection of (I - J) has a
    negative eigenvalue (a saddle), the step is "saddle-free" (Dauphin et
    al., 2014): that eigenvalue's sign is flipped, so the step leaves the
    saddle the way EM does, instead of converging to it.

Both run where straight lines stay inside the parameter space: weights as
centred log-ratios (softmax back), means as they are, variances as
logarithms, covariance matrices as the logarithm of the diagonal of their
Cholesky factor plus its strictly lower part (the log-Cholesky
parametrisation; Pinheiro and Bates, 1996). Decoding projects on what the M
step guarantees: variances (eigenvalues, for matrices) at least
``reg_covar`` and the variance floor, fixed parameters reset exactly.

Every parameter set the driver keeps is an EM image G(theta), so it
satisfies the M step's constraints by construction, and the log-likelihoods
of the kept sets never decrease.
"""

import numpy as np

from . import _params as uni
from . import _params_md as md

#: Initial bounds of the step length and their growth factor (the R package's
#: step.min0 = 1, step.max0 = 1, mstep = 4).
STEP_MIN0 = 1.0
STEP_MAX0 = 1.0
MSTEP = 4.0


# ============================================================================
# Parameters <-> unconstrained vectors
# ============================================================================

def _centred_log(weights):
    log_w = np.log(np.maximum(weights, np.finfo(np.float64).tiny))
    return log_w - log_w.mean()


def _softmax(eta):
    z = np.exp(eta - eta.max())
    return z / z.sum()


def _log_cholesky(covs):
    """(K, d, d) covariances -> (K, d (d + 1) / 2): log of the diagonal of
    the lower Cholesky factor, then its strictly lower part row by row."""
    K, d, _ = covs.shape
    rows, cols = np.tril_indices(d, -1)
    chol = np.linalg.cholesky(covs)
    diag = np.log(np.diagonal(chol, axis1=1, axis2=2))
    return np.concatenate([diag, chol[:, rows, cols]], axis=1)


def _from_log_cholesky(values, d):
    """Inverse of ``_log_cholesky``: (K, d (d + 1) / 2) -> (K, d, d)."""
    K = values.shape[0]
    rows, cols = np.tril_indices(d, -1)
    chol = np.zeros((K, d, d))
    idx = np.arange(d)
    chol[:, idx, idx] = np.exp(values[:, :d])
    chol[:, rows, cols] = values[:, d:]
    return chol @ np.transpose(chol, (0, 2, 1))


def _eigen_floor(covs, floor):
    """Covariances (K, d, d) with every eigenvalue raised to at least
    ``floor`` (the M step's image has Sigma >= reg_covar I); unchanged when
    they already are."""
    out = covs.copy()
    for k, cov in enumerate(covs):
        values, vectors = np.linalg.eigh(cov)
        if values[0] < floor:
            out[k] = (vectors * np.maximum(values, floor)) @ vectors.T
    return out


def to_vector(params):
    """Flat float64 vector of ``params`` (MixtureParams or MDParams) in the
    unconstrained parametrisation described in the module docstring."""
    log_w = _centred_log(params.weights)
    if isinstance(params, uni.MixtureParams):
        # The tied model's K equal variances stay equal under extrapolation
        # (the same arithmetic on equal numbers) and the M step re-ties them.
        return np.concatenate([log_w, params.means, np.log(params.variances)])
    ctype = params.covariance_type
    cov = params.covariances
    if ctype == "full":
        cov_part = _log_cholesky(cov).ravel()
    elif ctype == "tied":
        cov_part = _log_cholesky(cov[np.newaxis]).ravel()
    else:
        cov_part = np.log(cov).ravel()
    return np.concatenate([log_w, params.means.ravel(), cov_part])


def from_vector(vector, template, model):
    """Parameters of ``template``'s kind and shapes from ``vector``, projected
    on the M step's constraints of ``model``: variances at least its
    ``reg_covar`` (frame units) and variance floor, fixed parameters exact.

    Returns None if the vector does not give finite parameters.
    """
    if not np.all(np.isfinite(vector)):
        return None
    K = template.weights.shape[0]
    with np.errstate(over="ignore", under="ignore"):
        weights = _softmax(vector[:K])
        if isinstance(template, uni.MixtureParams):
            means = vector[K:2 * K].copy()
            floor = max(model.reg_covar, model.variance_floor)
            variances = np.maximum(np.exp(vector[2 * K:]), floor)
            if not np.all(np.isfinite(variances)):
                return None
            return model.apply_fixed(uni.MixtureParams(weights, means, variances))
        d = template.means.shape[1]
        means = vector[K:K + K * d].reshape(K, d).copy()
        rest = vector[K + K * d:]
        ctype = template.covariance_type
        floor = max(model.reg_covar, md._FLOOR)
        if ctype in ("full", "tied"):
            covs = _from_log_cholesky(rest.reshape(-1, d * (d + 1) // 2), d)
            if not np.all(np.isfinite(covs)):
                return None
            covs = _eigen_floor(covs, floor)
            cov = covs if ctype == "full" else covs[0]
        else:
            cov = np.maximum(np.exp(rest).reshape(template.covariances.shape), floor)
            if not np.all(np.isfinite(cov)):
                return None
    try:
        cov, prec_chol = md.precision_cholesky(cov, ctype)
    except ValueError:
        return None
    return model.apply_fixed(md.MDParams(ctype, weights, means, cov, prec_chol))


# ============================================================================
# The SQUAREM step length and its bounds
# ============================================================================

class StepLength:
    """SQUAREM's S3 step length with the adaptive bounds of the R package."""

    def __init__(self, step_min=STEP_MIN0, step_max=STEP_MAX0, mstep=MSTEP):
        self.step_min0, self.step_max0, self.mstep = step_min, step_max, mstep
        self.step_min, self.step_max = step_min, step_max

    def propose(self, r, v):
        """alpha = |r| / |v| clipped to the current bounds (1 if v is 0)."""
        sr2, sv2 = float(np.dot(r, r)), float(np.dot(v, v))
        alpha = np.sqrt(sr2 / sv2) if sv2 > 0 else 1.0
        if not np.isfinite(alpha):
            alpha = 1.0
        return float(min(self.step_max, max(self.step_min, alpha)))

    def update(self, alpha, accepted):
        """Adapt the bounds after a step of length ``alpha`` (R: squarem1)."""
        if not accepted:
            if alpha == self.step_max:
                self.step_max = max(self.step_max0, self.step_max / self.mstep)
            alpha = 1.0
        if alpha == self.step_max:
            self.step_max *= self.mstep
        if self.step_min < 0 and alpha == self.step_min:
            self.step_min *= self.mstep


def extrapolate(u0, u1, u2, alpha):
    """theta_0 + 2 alpha r + alpha^2 v in vector form."""
    r = u1 - u0
    v = (u2 - u1) - r
    return u0 + 2.0 * alpha * r + alpha * alpha * v


# ============================================================================
# What the stopping rules measure
# ============================================================================

#: Weight below which a component counts as dead: the likelihood hardly sees
#: its parameters.
ALIVE = 1e-8


def step_size(before, after):
    """The largest move from ``before`` to ``after`` (parameters of one kind,
    in the model's frame, where the bulk of the data spans about [-1, 1]):
    weights in absolute terms, means in frame units, (co)variances relative
    to their size. Components of weight below 1e-8 are left out of the means
    and covariances: the likelihood hardly sees their parameters, which keep
    moving while such a component dies out."""
    alive = after.weights > ALIVE
    moves = [np.max(np.abs(after.weights - before.weights)),
             np.max(np.abs(after.means - before.means)[alive], initial=0.0)]
    if isinstance(after, uni.MixtureParams):
        old, new = before.variances[alive], after.variances[alive]
        moves.append(np.max(np.abs(new - old) / old, initial=0.0))
        return float(max(moves))
    ctype = after.covariance_type
    old, new = before.covariances, after.covariances
    if ctype == "tied":
        size = np.max(np.abs(old))
    else:
        old, new = old[alive], new[alive]
        # Relative to each component's largest (co)variance: off-diagonal
        # terms near 0 have no relative precision of their own.
        size = np.abs(old) if ctype == "spherical" else \
            np.max(np.abs(old), axis=tuple(range(1, old.ndim)), keepdims=True)
    moves.append(np.max(np.abs(new - old) / size, initial=0.0))
    return float(max(moves))


def aitken_gap(lower_bounds):
    """Aitken's estimate of the gain still available after the last of a
    plain EM sequence of log-likelihoods (McLachlan and Peel, 2000, sec.
    2.11): with a = d_k / d_(k-1), the ratio of the last two increments, the
    limit is L_k + d_k a / (1 - a) for a sequence converging linearly. 0 when
    the last increment is not positive (the fixed point, to rounding); inf
    when the rate estimate is not in [0, 1)."""
    if len(lower_bounds) < 3:
        return np.inf
    last = lower_bounds[-1] - lower_bounds[-2]
    previous = lower_bounds[-2] - lower_bounds[-3]
    if last <= 0.0:
        return 0.0
    if previous <= 0.0 or last >= previous:
        return np.inf
    rate = last / previous
    return last * rate / (1.0 - rate)


# ============================================================================
# Newton steps: GMRES with Jacobian-vector products from EM steps
# ============================================================================

def gmres(matvec, rhs, max_dim, rtol, saddle_free=False):
    """Approximate solution of A x = rhs by GMRES (Saad and Schultz, 1986)
    without restarts: at most ``max_dim`` products ``matvec(v)`` = A v, on
    unit vectors v; stops when the residual is below ``rtol * |rhs|``.

    With ``saddle_free``, returns (x, saddle): ``saddle`` says whether a
    Ritz value of A (an eigenvalue of its projection on the Krylov space) is
    below ``-SADDLE_TOL``; if so, and none is below ``-SADDLE_FAST``, x
    solves the projected system with the real part of every eigenvalue
    replaced by its absolute value (see ``_saddle_free_solve``). Otherwise x
    is the GMRES solution, unchanged.
    """
    beta = float(np.linalg.norm(rhs))
    if beta == 0.0:
        return (np.zeros_like(rhs), False) if saddle_free else np.zeros_like(rhs)
    basis = [rhs / beta]
    hessenberg = np.zeros((max_dim + 1, max_dim))
    target = np.zeros(max_dim + 1)
    target[0] = beta
    coef = np.zeros(0)
    for j in range(max_dim):
        w = matvec(basis[j])
        for i in range(j + 1):                   # modified Gram-Schmidt
            hessenberg[i, j] = np.dot(w, basis[i])
            w = w - hessenberg[i, j] * basis[i]
        hessenberg[j + 1, j] = np.linalg.norm(w)
        h = hessenberg[:j + 2, :j + 1]
        coef = np.linalg.lstsq(h, target[:j + 2], rcond=None)[0]
        residual = np.linalg.norm(target[:j + 2] - h @ coef)
        if residual <= rtol * beta or hessenberg[j + 1, j] <= 1e-14 * beta:
            break
        basis.append(w / hessenberg[j + 1, j])
    if not saddle_free:
        return np.column_stack(basis[:coef.size]) @ coef
    square = hessenberg[:coef.size, :coef.size]
    saddle = bool(np.any(np.linalg.eigvals(square).real < -SADDLE_TOL))
    flipped = _saddle_free_solve(square, beta) if saddle else None
    if flipped is not None:
        coef = flipped
    return np.column_stack(basis[:coef.size]) @ coef, saddle


def _saddle_free_solve(square, beta):
    """Coefficients y of the projected system ``square @ y = beta e_1`` with
    the real part of every eigenvalue of ``square`` made non-negative, or
    None when none of them is below ``-SADDLE_TOL`` (the noise level of the
    difference-quotient products), when one is below ``-SADDLE_FAST``, or
    when the eigenvectors are too ill-conditioned to rebuild the matrix.

    For A = I - J, J the Jacobian of the EM map, a negative eigenvalue means
    EM moves *away* from the fixed point along that direction (J has an
    eigenvalue above 1): the fixed point Newton aims at is a saddle of the
    likelihood, not a maximum. Replacing the eigenvalue by its absolute value
    keeps Newton's step length along that direction but turns it back to the
    way EM itself goes (the "saddle-free Newton" of Dauphin et al., 2014),
    so the step escapes the saddle instead of converging to it.
    """
    values, vectors = np.linalg.eig(square)
    if np.all(values.real > -SADDLE_TOL) or np.any(values.real < -SADDLE_FAST):
        return None
    if np.linalg.cond(vectors) > 1e8:
        return None
    values = np.abs(values.real) + 1j * values.imag
    if np.any(values == 0.0):
        return None
    rhs = np.zeros(square.shape[0])
    rhs[0] = beta
    return (vectors @ (np.linalg.solve(vectors, rhs) / values)).real


# ============================================================================
# The driver
# ============================================================================

#: Default stopping rule: the estimated gain still available from the
#: current parameters, in mean log-likelihood per unit of sample weight.
GAP_TOL = 1e-10
#: ... and the last EM step must have moved no parameter by more than this
#: (``step_size``), so that the result is a fixed point of EM, not only a
#: point of nearly optimal log-likelihood.
STEP_TOL = 1e-9
#: Newton steps start once SQUAREM's estimate of that gain is below this.
NEWTON_START = 1e-4
#: Krylov dimension (EM steps) spent on one Newton step, at most.
MAX_KRYLOV = 40
#: Relative residual at which GMRES stops.
KRYLOV_RTOL = 1e-8
#: Relative size of the difference step for the Jacobian-vector products.
JACOBIAN_STEP = 1e-7
#: Ritz values of (I - J) below -SADDLE_TOL mark a saddle of the likelihood
#: (EM's map expands there); smaller ones are taken as the noise of the
#: difference-quotient Jacobian products (step JACOBIAN_STEP).
SADDLE_TOL = 1e-6
#: ... and only those above -SADDLE_FAST are flipped: below it EM leaves the
#: saddle by itself at a rate of at least 1 + SADDLE_FAST per step (its
#: distance doubles in ~14 steps), and the Newton model there is poor (a
#: flipped step tends to overshoot into another basin of attraction).
SADDLE_FAST = 0.05
#: Newton steps in one attempt; more means it is not converging quadratically.
MAX_NEWTON_STEPS = 10


class OutOfPasses(Exception):
    """The pass budget (``max_iter``) is spent."""


class PassCounter:
    """One EM step = one kernel pass on ``model``, counted against a budget.

    Calling it with parameters returns (mean log-likelihood per unit weight
    in the data's units, EM image, M-step report). With ``probe=True`` (a
    candidate that may be rejected) a pass whose log-likelihood is not finite
    or whose M step fails gives (-inf, None, None) instead.
    """

    def __init__(self, model, max_passes):
        self.model = model
        self.max_passes = max_passes
        self.n_passes = 0
        self.shift = model.log_lik_shift()

    def __call__(self, params, probe=False):
        if self.n_passes >= self.max_passes:
            raise OutOfPasses
        stats = self.model.accumulate(params)
        self.n_passes += 1
        lower_bound = float(stats[0] / stats[1] + self.shift)
        if not probe:
            return (lower_bound, *self.model.m_step(stats, params))
        if not np.isfinite(lower_bound):
            return -np.inf, None, None
        try:
            with np.errstate(all="ignore"):
                image, report = self.model.m_step(stats, params)
        except (ValueError, np.linalg.LinAlgError):
            return -np.inf, None, None
        return lower_bound, image, report


def _repairs(report):
    """(kind, component) pairs an M step had to repair (see MStepReport)."""
    return {(kind, k) for kind in ("empty", "collapsed", "singular")
            for k in getattr(report, kind)}


def _kills(before, after):
    """Whether a component alive in ``before`` is dead in ``after``. A
    Newton step, linear in the log-weights, can jump onto the boundary
    where a component has no weight: a fixed point of EM (a dead component
    stays dead) that is not a maximum, since EM kept it alive."""
    return bool(np.any((after.weights < ALIVE) & (before.weights >= ALIVE)))


class _Point:
    """A kept parameter set, its log-likelihood and its EM image."""

    __slots__ = ("params", "lower_bound", "image")

    def __init__(self, params, lower_bound, image):
        self.params, self.lower_bound, self.image = params, lower_bound, image


class AcceleratedEM:
    """SQUAREM cycles, then Newton steps, from ``params`` on ``model``.

    The outcome is in the attributes after :meth:`run`: ``image`` (the EM
    image of the last kept parameters: the result), ``lower_bounds`` (mean
    log-likelihood of every kept parameter set, non-decreasing), ``n_passes``
    (every kernel pass, those of rejected extrapolations and of
    Jacobian-vector products included), ``converged`` and ``report`` (the
    M-step repairs of the kept sets).

    Parameters
    ----------
    model : a model of ``cyem._model``, ``cyem.chunked`` or ``cyem._dask``
    params : MixtureParams or MDParams
        Starting parameters, in the model's frame.
    max_passes : int
    tol : float or None
        None: stop when the estimated remaining gain in mean log-likelihood
        is at most ``gap_tol`` (see ``cyem._em.run_em``). A number:
        scikit-learn's rule applied to SQUAREM's plain EM steps (their change
        in mean log-likelihood below ``tol``), without Newton steps.
    gap_tol : float
    newton : bool
        Allow Newton steps.
    """

    def __init__(self, model, params, max_passes, report, *, tol=None,
                 gap_tol=GAP_TOL, newton=True, verbose=0, verbose_interval=10):
        self.model = model
        self.evaluate = PassCounter(model, max_passes)
        self.start = params
        self.report = report
        self.tol = tol
        self.gap_tol = gap_tol
        self.newton_allowed = newton and tol is None
        self.newton_start = NEWTON_START
        self.newton_failures = 0
        self.newton_retry = 0
        self.steps = StepLength()
        self.recent_rates = []
        self.lower_bounds = []
        self.converged = False
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.current = None
        self.current_repairs = set()

    # -- bookkeeping --------------------------------------------------------
    @property
    def n_passes(self):
        return self.evaluate.n_passes

    @property
    def image(self):
        return self.current.image

    def _keep(self, params, lower_bound, image, report):
        """Move to a new kept parameter set (its log-likelihood is recorded)."""
        self.current = _Point(params, lower_bound, image)
        self.lower_bounds.append(lower_bound)
        self.report.merge(report)
        self.current_repairs = _repairs(report)

    def _em_step(self, params):
        self._keep(params, *self.evaluate(params))

    # -- the loop -----------------------------------------------------------
    def run(self):
        try:
            self._em_step(self.start)
            while True:
                if self._squarem_cycle():
                    self.converged = True
                    return self
        except OutOfPasses:
            return self

    def _squarem_cycle(self):
        """One SQUAREM cycle from the current point; True once converged."""
        p0 = self.current
        self._em_step(p0.image)
        p1 = self.current
        u0, u1, u2 = to_vector(p0.params), to_vector(p1.params), to_vector(p1.image)
        r, v = u1 - u0, (u2 - u1) - (u1 - u0)
        change = p1.lower_bound - p0.lower_bound
        gap = self._gap_estimate(change, r, u2 - u1)
        self._trace(change, gap)
        if self.tol is not None:
            return abs(change) < self.tol
        if change <= 0.0:
            # No gain from an EM step: the fixed point, to rounding.
            return True
        # The gap estimate can be trusted when EM converges fast; when it is
        # slow, SQUAREM hides the slowest direction from it, and Newton steps
        # decide instead -- if they cost fewer passes than EM would need.
        newton = self.newton_allowed and \
            self._em_passes_needed(gap) > min(u0.size, MAX_KRYLOV) + 2
        if newton and (gap <= self.newton_start or self._newton_due()):
            return self._newton()
        if not newton and gap <= self.gap_tol and \
                step_size(p1.params, p1.image) <= STEP_TOL:
            return True
        alpha = self.steps.propose(r, v)
        if abs(alpha - 1.0) <= 0.01:
            # A step of 1 is theta_2 itself: plain EM.
            self.steps.update(alpha, True)
            self._em_step(p1.image)
            return False
        candidate = from_vector(extrapolate(u0, u1, u2, alpha), p1.params, self.model)
        accepted = self._try(candidate, p1.lower_bound) >= p1.lower_bound
        self.steps.update(alpha, accepted)
        if not accepted:
            self._em_step(p1.image)
        return False

    def _try(self, candidate, reference, keep_alive=False):
        """Finish ``candidate`` with an EM step and keep G(candidate) if its
        log-likelihood is at least ``reference`` (two passes; none if the
        candidate is None). Returns that log-likelihood (-inf if not finite).
        With ``keep_alive``, also refuse it if it takes a component's weight
        below ``ALIVE`` where EM's next iterate has it above."""
        if candidate is None:
            return -np.inf
        _, image, report = self.evaluate(candidate, probe=True)
        if image is None or not _repairs(report) <= self.current_repairs:
            return -np.inf
        stabilised, next_image, next_report = self.evaluate(image, probe=True)
        # A jump must not empty or collapse a component that EM keeps alive
        # (say along a flat direction of the likelihood, where weights are
        # not identified): EM itself would approach such a boundary slowly.
        if next_image is not None and stabilised >= reference and \
                _repairs(next_report) <= self.current_repairs and \
                not (keep_alive and _kills(self.current.image, next_image)):
            self.report.merge(report)
            self._keep(image, stabilised, next_image, next_report)
        return stabilised

    def _gap_estimate(self, change, step, next_step):
        """Gain still available after two EM steps, from their gain and the
        ratio of their lengths (the rate lambda; the log-likelihood converges
        at lambda^2): change * lambda^2 / (1 - lambda^2), with lambda the
        largest of the last three cycles' ratios."""
        norm = np.linalg.norm(step)
        rate = np.linalg.norm(next_step) / norm if norm > 0 else 0.0
        self.recent_rates = (self.recent_rates + [rate])[-3:]
        rate = max(self.recent_rates)
        if rate >= 1.0:
            return np.inf
        return change * rate * rate / (1.0 - rate * rate)

    def _newton_due(self):
        """Whether Newton is to be tried again whatever SQUAREM's gap
        estimate says: after a failed attempt, once SQUAREM has spent as many
        passes as that attempt cost, doubled for every further consecutive
        failure. A failure says that Newton's local model was poor where it
        happened (near a saddle, say), not that the rest of the run is out of
        its reach; but the gap estimate may never again fall below the
        lowered threshold: on a ridge of overlapping components SQUAREM's
        gains stay small and its rate estimate near or above 1 (infinite
        gap), and it crawls there for hundreds of passes where Newton takes a
        few steps. The doubling bounds the passes spent on failing attempts
        to about half of the run."""
        return self.newton_failures > 0 and self.n_passes >= self.newton_retry

    def _em_passes_needed(self, gap):
        """EM steps to bring ``gap`` down to ``gap_tol`` at the recent rate."""
        rate = max(self.recent_rates)
        if gap <= self.gap_tol or rate <= 0.0:
            return 0.0
        if rate >= 1.0:
            return np.inf
        return np.log(self.gap_tol / gap) / (2.0 * np.log(rate))

    def _newton(self):
        """Newton steps from the current point until converged (True) or a
        step is refused (False: SQUAREM goes on, and Newton is tried again
        once SQUAREM's gap estimate is 100 times smaller, or when
        ``_newton_due``).

        Near a saddle of the likelihood the steps are saddle-free (see
        ``gmres``): plain Newton on G(theta) = theta converges to any fixed
        point of EM, a saddle included, and parks the run there, where EM
        moves away only at the rate of its largest eigenvalue (1 + 1e-3,
        say): hundreds of passes of gains near 1e-12.
        """
        start = self.n_passes
        for _ in range(MAX_NEWTON_STEPS):
            point = self.current
            u, g = to_vector(point.params), to_vector(point.image)
            residual = g - u
            if not np.any(residual):
                return True
            delta, at_saddle = gmres(self._jacobian_product(point, u, g), residual,
                                     min(u.size, MAX_KRYLOV), KRYLOV_RTOL,
                                     saddle_free=True)
            full = self._try(from_vector(u + delta, point.params, self.model),
                             point.lower_bound, keep_alive=True)
            # _try may refuse a candidate that gains (it would empty or
            # collapse a component): only a kept point is progress. Near a
            # saddle, a small gain or loss is no sign of convergence.
            if self.current is not point:
                gain = full - point.lower_bound
                self._trace(gain, None, newton=1.0)
                if gain <= self.gap_tol and not at_saddle and \
                        step_size(self.current.params, self.current.image) <= STEP_TOL:
                    return True
                continue
            if point.lower_bound - self.gap_tol <= full < point.lower_bound and \
                    not at_saddle:
                # Newton's step to the optimum moves the log-likelihood by
                # less than the tolerance (it loses at the rounding level).
                return True
            short = self._try(from_vector(u + 0.3 * delta, point.params, self.model),
                              point.lower_bound, keep_alive=True)
            if self.current is point:
                break
            self._trace(short - point.lower_bound, None, newton=0.3)
        self.newton_failures += 1
        self.newton_start /= 100.0
        self.newton_retry = self.n_passes + \
            (self.n_passes - start) * 2 ** (self.newton_failures - 1)
        return False

    def _jacobian_product(self, point, u, g):
        """v -> (I - J) v, J v from one EM step at u + h v (|v| = 1)."""
        step = JACOBIAN_STEP * max(1.0, float(np.max(np.abs(u))))

        def product(direction):
            probe = from_vector(u + step * direction, point.params, self.model)
            image = None if probe is None else self.evaluate(probe, probe=True)[1]
            if image is None:
                return direction          # no information: J v taken as 0
            return direction - (to_vector(image) - g) / step
        return product

    def _trace(self, change, gap, newton=None):
        if self.verbose < 2 or len(self.lower_bounds) % self.verbose_interval:
            return
        kind = "SQUAREM" if newton is None else f"Newton (step {newton:g})"
        text = f"  Pass {self.n_passes}\t {kind}\t lower bound " \
               f"{self.current.lower_bound:.10g}\t change {change:.3g}"
        if gap is not None and np.isfinite(gap):
            text += f"\t gap estimate {gap:.3g}"
        print(text)
