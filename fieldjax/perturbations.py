"""Stochastic perturbations of the field-theoretic LM: Levy kicks, Beta time steps.

The field evolves by a deterministic integrator with time step `dt`; training
adds one of four perturbations per step (`KINDS`), chosen by a step schedule:

  none      The field and `dt` unchanged.

  levy      A Levy-flight kick: every field element moves by an independent
            symmetric alpha-stable variate,
              psi <- psi + clip(c * X, -K c, K c),   X ~ S(alpha, beta=0, 1),
            c = `levy_scale`, K = `levy_clip`. S(alpha, 0, 1) has
            characteristic function E exp(i t X) = exp(-|t|**alpha): alpha = 2
            is a Gaussian of variance 2 (std sqrt 2), alpha = 1 a Cauchy, and
            for alpha < 2 the tails are power laws,
              P(|X| > x) ~ 2 C_alpha x**-alpha,   C_alpha = Gamma(alpha) sin(pi alpha / 2) / pi,
            so most kicks are small and a few are very long jumps.

  beta      Information-geometric time steps: the integrator's step is drawn as
              dt' = 2 dt B,   B ~ Beta(a, b),
            a random step in (0, 2 dt) with mean 2 dt a / (a + b) (= dt for
            a = b). With the default a = b = phi, B is symmetric and unimodal
            with std 1 / (2 sqrt(2 phi + 1)) ~ 0.243, so dt' has std ~0.49 dt.
            A random step size breaks the resonances a fixed-step integrator
            of an oscillating field can lock into.

  adaptive  Exploration weighted by how unsettled the field is. With coherence
            r in [0, 1] (1: fully coherent, about to collapse),
              w = 1 - clip(r, 0, 1),
              psi <- psi + w * clip(c X, -K c, K c),
              dt' = w * 2 dt B + (1 - w) * dt:
            an incoherent field (w = 1) gets the full Levy kick and Beta step;
            a coherent one (w = 0) is left alone with the base step.

Sampling X: the Chambers-Mallows-Stuck (1976) method. With V ~ U(-pi/2, pi/2)
and W ~ Exp(1) independent, for beta = 0,
  X = sin(alpha V) / cos(V)**(1/alpha) * (cos((1 - alpha) V) / W)**((1 - alpha) / alpha),
  X = tan(V)                                               (alpha = 1),
is S(alpha, 0, 1) distributed. This is scipy.stats.levy_stable's default
parameterisation (S1; for beta = 0, S0 and S1 coincide), with `scale` c
multiplying X. At alpha = 2 the formula reduces to X = 2 sqrt(W) sin V, a
Gaussian of std sqrt 2 (Box-Muller in polar form). We evaluate it in log space
(log|X| as a sum of logs, then sign * exp) so no intermediate factor
overflows, and keep V strictly inside (-pi/2, pi/2) in float32.

Why alpha = phi (`constants.LEVY_ALPHA`): the original's golden-ratio
convention, not a derived optimum. What matters is 1 < phi < 2: unlike a
Gaussian, the kick has a power-law tail (P(|X| > x) ~ 0.32 x**-1.618), so the
field now and then jumps far out of a basin it is stuck in (a Levy flight, the
random search that beats Brownian search for sparse targets); unlike a Cauchy
(alpha = 1), its mean |X| is finite, so the kicks do not dominate the dynamics.

Why clip: for alpha < 2 the variance is infinite. Unclipped, the largest of N
kicks grows like (2 C_alpha N)**(1/alpha): a field of 10**6 elements run for
10**5 steps sees kicks of ~3 * 10**6 scales, ~3 * 10**4 field units at
c = 0.01, half float16's range (max 65504), and one such kick wipes out what
the field had learned. Clipping at K = 10 scales bounds every kick by 10 c,
keeps float16/bfloat16 fields finite, and changes only the tail: at
alpha = phi, P(|X| > 10) = 0.8%.

Shapes: any field shape F; `coherence` broadcasts against F (numpy rules:
per-example coherence [B] of a [B, H] field is passed as [B, 1]). Units: field
units for kicks, the integrator's time units for `dt`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import constants

KINDS = ('none', 'levy', 'beta', 'adaptive')
Schedule = tuple[tuple[int, str], ...]  # ((step, kind), ...), sorted by step, first at 0.

# The largest float32 below pi/2: V is drawn from [-_HALF_PI, _HALF_PI], where
# cos(V) >= 7.5e-8 > 0 and sin(2 V) keeps the sign of V.
_HALF_PI = float(np.nextafter(np.float32(math.pi / 2), np.float32(0.0)))
_TINY = float(np.finfo(np.float32).tiny)


@dataclasses.dataclass(frozen=True)
class PerturbationConfig:
  """Parameters of the perturbations. Override with `dataclasses.replace`."""

  levy_alpha: float = constants.LEVY_ALPHA  # Stability index, in (0, 2].
  levy_scale: float = 0.01  # Scale c of the stable law, in field units.
  # Kicks are clipped to +-levy_clip * levy_scale: for alpha < 2 the variance
  # is infinite, and an unclipped tail kick can overflow float16 / wreck the field.
  levy_clip: float = 10.0
  beta_a: float = constants.PHI  # Beta(a, b) of the random time steps.
  beta_b: float = constants.PHI
  dt: float = 0.5  # Base integration time step.

  def __post_init__(self):
    _check_alpha(self.levy_alpha)
    for name in ('levy_scale', 'levy_clip', 'beta_a', 'beta_b', 'dt'):
      value = getattr(self, name)
      if not value > 0:
        raise ValueError(f'{name} must be positive, got {value!r}.')


def _check_alpha(alpha: float) -> float:
  """`alpha` as a Python float; ValueError unless 0 < alpha <= 2."""
  alpha = float(alpha)  # Fails on a tracer: alpha must be static.
  if not 0.0 < alpha <= 2.0:
    raise ValueError(f'The stability index alpha must be in (0, 2], got {alpha!r}.')
  return alpha


def stable_noise(key: jax.Array, shape: tuple[int, ...],
                 alpha: float = constants.LEVY_ALPHA, scale: float = 1.0,
                 dtype: Any = jnp.float32) -> jax.Array:
  """Symmetric alpha-stable samples, Chambers-Mallows-Stuck method.

  Args:
    key: PRNG key.
    shape: shape of the result.
    alpha: stability index in (0, 2], a static Python float. 2: Gaussian of
      std sqrt(2) * scale; 1: Cauchy of scale `scale`.
    scale: scale c (characteristic function exp(-|c t|**alpha)), as
      scipy.stats.levy_stable(alpha, 0, scale=c).
    dtype: floating dtype of the result; sampled in float32, then cast.

  Returns:
    [*shape] samples of S(alpha, 0, scale), always finite: samples beyond
    `dtype`'s range (for small alpha, or from the float32 grid of V near
    +-pi/2) saturate at its largest finite value.

  Raises:
    ValueError: alpha outside (0, 2].
  """
  alpha = _check_alpha(alpha)
  key_v, key_w = jax.random.split(key)
  v = jax.random.uniform(key_v, shape, jnp.float32, -_HALF_PI, _HALF_PI)
  if alpha == 1.0:
    x = jnp.tan(v)
  else:
    w = jnp.maximum(jax.random.exponential(key_w, shape, jnp.float32), _TINY)
    sin_av = jnp.sin(alpha * v)
    log_cos_v = jnp.log(jnp.maximum(jnp.cos(v), _TINY))
    log_cos_rest = jnp.log(jnp.maximum(jnp.cos((1.0 - alpha) * v), _TINY))
    log_abs = (jnp.log(jnp.abs(sin_av)) - log_cos_v / alpha
               + (1.0 - alpha) / alpha * (log_cos_rest - jnp.log(w)))
    x = jnp.sign(sin_av) * jnp.exp(log_abs)
  big = float(jnp.finfo(dtype).max)  # Saturate (not overflow) in the result dtype.
  return jnp.clip(x * scale, -big, big).astype(dtype)


def beta_time_steps(key: jax.Array, shape: tuple[int, ...], dt: float, a: float,
                    b: float, dtype: Any = jnp.float32) -> jax.Array:
  """Random time steps dt * 2 * Beta(a, b).

  Args:
    key: PRNG key.
    shape: shape of the result (() for one step shared by the whole field).
    dt: base time step (the mean for a == b).
    a, b: positive Beta parameters.
    dtype: floating dtype of the result; sampled in float32, then cast.

  Returns:
    [*shape] steps in [0, 2 dt], mean 2 dt a / (a + b).
  """
  steps = jax.random.beta(key, a, b, shape, jnp.float32)
  return (2.0 * dt * steps).astype(dtype)


def _kick_noise(key: jax.Array, shape: tuple[int, ...], complex_field: bool,
                cfg: PerturbationConfig) -> jax.Array:
  """Clipped stable kicks, float32 [*shape] (complex64: independent re, im)."""
  bound = cfg.levy_clip * cfg.levy_scale
  if complex_field:
    key_re, key_im = jax.random.split(key)
    re = stable_noise(key_re, shape, cfg.levy_alpha, cfg.levy_scale)
    im = stable_noise(key_im, shape, cfg.levy_alpha, cfg.levy_scale)
    return jax.lax.complex(jnp.clip(re, -bound, bound), jnp.clip(im, -bound, bound))
  noise = stable_noise(key, shape, cfg.levy_alpha, cfg.levy_scale)
  return jnp.clip(noise, -bound, bound)


def _add_kick(field: jax.Array, noise: jax.Array) -> jax.Array:
  """field + noise, summed in (at least) float32 and cast back to field's dtype."""
  field = jnp.asarray(field)
  compute = jnp.promote_types(field.dtype, noise.dtype)
  return (field.astype(compute) + noise.astype(compute)).astype(field.dtype)


def levy_kick(key: jax.Array, field: jax.Array, cfg: PerturbationConfig) -> jax.Array:
  """The field after one clipped Levy-flight kick per element.

  Args:
    key: PRNG key.
    field: [*F] field, any floating (or complex: real and imaginary parts are
      kicked independently) dtype.
    cfg: perturbation parameters (levy_alpha, levy_scale, levy_clip).

  Returns:
    [*F] field + clip(levy_scale * X, +-levy_clip * levy_scale), X ~
    S(levy_alpha, 0, 1); noise drawn and added in float32, cast to field's dtype.
  """
  field = jnp.asarray(field)
  complex_field = jnp.issubdtype(field.dtype, jnp.complexfloating)
  return _add_kick(field, _kick_noise(key, field.shape, complex_field, cfg))


def adaptive_weight(coherence: jax.Array | float) -> jax.Array:
  """Weight in [0, 1] given to exploration: 1 - clip(coherence, 0, 1).

  Args:
    coherence: [*C] coherence of the field, 1 fully coherent; any shape.

  Returns:
    [*C] float32 (or wider) weight: 1 for an incoherent field, 0 for a coherent one.
  """
  coherence = jnp.asarray(coherence)
  coherence = coherence.astype(jnp.promote_types(coherence.dtype, jnp.float32))
  return 1.0 - jnp.clip(coherence, 0.0, 1.0)


def _perturb_none(key, field, coherence, cfg):
  del key, coherence
  return jnp.asarray(field), jnp.asarray(cfg.dt, jnp.float32)


def _perturb_levy(key, field, coherence, cfg):
  del coherence
  key_kick, _ = jax.random.split(key)
  return levy_kick(key_kick, field, cfg), jnp.asarray(cfg.dt, jnp.float32)


def _perturb_beta(key, field, coherence, cfg):
  del coherence
  _, key_dt = jax.random.split(key)
  return jnp.asarray(field), beta_time_steps(key_dt, (), cfg.dt, cfg.beta_a, cfg.beta_b)


def _perturb_adaptive(key, field, coherence, cfg):
  field = jnp.asarray(field)
  key_kick, key_dt = jax.random.split(key)
  w = adaptive_weight(coherence)
  complex_field = jnp.issubdtype(field.dtype, jnp.complexfloating)
  noise = _kick_noise(key_kick, field.shape, complex_field, cfg)
  new_field = _add_kick(field, w * noise)
  if new_field.shape != field.shape:
    raise ValueError(f'coherence of shape {w.shape} must broadcast against the '
                     f'field of shape {field.shape} without enlarging it.')
  beta_dt = beta_time_steps(key_dt, (), cfg.dt, cfg.beta_a, cfg.beta_b)
  dt = (w * beta_dt + (1.0 - w) * cfg.dt).astype(jnp.float32)
  return new_field, dt


_BRANCHES = {'none': _perturb_none, 'levy': _perturb_levy, 'beta': _perturb_beta,
             'adaptive': _perturb_adaptive}
assert tuple(_BRANCHES) == KINDS


def _check_kind(kind: str) -> str:
  if kind not in KINDS:
    raise ValueError(f'Unknown perturbation kind {kind!r}; expected one of {KINDS}.')
  return kind


def perturb(kind: str, key: jax.Array, field: jax.Array, coherence: jax.Array | float,
            cfg: PerturbationConfig) -> tuple[jax.Array, jax.Array]:
  """Applies the perturbation `kind` (static) to the field.

  The key is split the same way for every kind (kick key, dt key), so
  'adaptive' at coherence 0 equals 'levy''s field with 'beta''s dt, and at
  coherence 1 equals 'none'.

  Args:
    kind: one of KINDS, a static Python str.
    key: PRNG key.
    field: [*F] field.
    coherence: [*C] coherence in [0, 1], broadcastable against F (used by
      'adaptive' only).
    cfg: perturbation parameters.

  Returns:
    (new_field [*F] of field's dtype, dt float32): dt is cfg.dt for 'none' and
    'levy', one Beta step () for 'beta', and w * beta_dt + (1 - w) * cfg.dt of
    shape [*C] for 'adaptive'.

  Raises:
    ValueError: unknown kind.
  """
  return _BRANCHES[_check_kind(kind)](key, field, coherence, cfg)


def perturb_by_index(kind_index: jax.Array | int, key: jax.Array, field: jax.Array,
                     coherence: jax.Array | float,
                     cfg: PerturbationConfig) -> tuple[jax.Array, jax.Array]:
  """`perturb` with the kind given as a (traced) int32 index into KINDS.

  Dispatched with `lax.switch`, so a jitted step compiles once for all kinds
  (only the selected branch runs; an out-of-range index is clamped to
  [0, len(KINDS) - 1], as `lax.switch` does).

  Returns:
    (new_field [*F], dt float32 [*C]): as `perturb`, with dt broadcast to
    coherence's shape for every kind (`lax.switch` branches must agree).
  """
  field = jnp.asarray(field)
  dt_shape = jnp.shape(coherence)

  def branch(fn):
    def run(operands):
      key_, field_, coherence_ = operands
      new_field, dt = fn(key_, field_, coherence_, cfg)
      return new_field.astype(field.dtype), jnp.broadcast_to(dt, dt_shape)
    return run

  index = jnp.asarray(kind_index, jnp.int32)
  return jax.lax.switch(index, [branch(_BRANCHES[k]) for k in KINDS],
                        (key, field, jnp.asarray(coherence)))


_STEP_KEY = re.compile(r'[0-9]+')


class _Pairs(list):
  """A JSON object as its list of (key, value) pairs."""


def parse_schedule(spec: str | Mapping[int | str, str] | Sequence[Sequence[Any]]) -> Schedule:
  """Parses a perturbation schedule {first step: kind}: the one parser of every spelling.

  Args:
    spec: a mapping with int or decimal-string keys, as config files write it
      ({0: 'beta', 10000: 'adaptive'}); JSON text such as '{"0": "beta",
      "10000": "adaptive"}' (the --perturbation_schedule flag); or (step, kind)
      pairs (a parsed Schedule, or its JSON form in a run record: lists).

  Returns:
    ((step, kind), ...) sorted by step; the first step is 0.

  Raises:
    ValueError: malformed JSON, not an object, empty, a key that is not a
      non-negative integer, a step given twice, an unknown kind, or no entry at
      step 0. The message names the offending part and quotes the spec.
  """
  where = f'in perturbation schedule {spec!r}'
  if isinstance(spec, str):
    try:  # Objects as _Pairs, keeping duplicate keys (a dict keeps the last).
      items = json.loads(spec, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as e:
      raise ValueError(f'Malformed JSON {where}: {e}.') from e
    if not isinstance(items, _Pairs):
      raise ValueError(f'Expected a JSON object {{step: kind}} {where}, got '
                       f'{type(items).__name__} {items!r}.')
  elif isinstance(spec, Mapping):
    items = list(spec.items())
  elif isinstance(spec, (tuple, list)) and all(
      isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in spec):
    items = [tuple(pair) for pair in spec]
  else:
    raise TypeError(f'A perturbation schedule is JSON text or a mapping, got {spec!r}.')
  if not items:
    raise ValueError(f'Empty perturbation schedule {spec!r}: give at least {{"0": kind}}.')
  schedule: dict[int, str] = {}
  for step_key, kind in items:
    if isinstance(step_key, bool) or not (
        isinstance(step_key, int) and step_key >= 0
        or isinstance(step_key, str) and _STEP_KEY.fullmatch(step_key.strip())):
      raise ValueError(f'Step {step_key!r} is not a non-negative integer {where}.')
    step = int(step_key)
    if step in schedule:
      raise ValueError(f'Step {step} is given more than once ({step_key!r}) {where}.')
    if not isinstance(kind, str) or kind not in KINDS:
      raise ValueError(f'Unknown perturbation kind {kind!r} at step {step_key!r} '
                       f'{where}; expected one of {KINDS}.')
    schedule[step] = kind
  if 0 not in schedule:
    raise ValueError(f'No entry at step 0 {where}: the first kind must start at step 0.')
  return tuple(sorted(schedule.items()))


def kind_at(schedule: Schedule, step: int) -> str:
  """The kind of the largest scheduled step <= step (ValueError for step < 0)."""
  started = [(start, kind) for start, kind in schedule if start <= step]
  if not started:
    raise ValueError(f'Step {step} precedes the perturbation schedule {schedule!r}.')
  return max(started)[1]


def kind_index_at(schedule: Schedule, step: jax.Array | int) -> jax.Array:
  """Jittable `kind_at`: the int32 index into KINDS of the kind at `step`.

  Args:
    schedule: from `parse_schedule` (static).
    step: scalar int step, may be traced; steps < 0 get the step-0 kind.

  Returns:
    () int32 index into KINDS.
  """
  starts = [start for start, _ in schedule]
  if max(starts) > jnp.iinfo(jnp.int32).max:
    raise ValueError(f'Steps of the schedule {schedule!r} exceed int32.')
  ordered = sorted(schedule)
  starts = jnp.asarray([start for start, _ in ordered], jnp.int32)
  indices = jnp.asarray([KINDS.index(kind) for _, kind in ordered], jnp.int32)
  position = jnp.sum(jnp.asarray(step) >= starts) - 1
  return indices[jnp.maximum(position, 0)]
