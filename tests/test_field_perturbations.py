"""Tests of fieldjax.perturbations: the stable sampler, Beta steps, kicks, schedules."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from fieldjax import constants
from fieldjax import perturbations as pert

PHI = constants.PHI
N = 200_000  # Samples for the distribution tests.
EXAMPLE = '{"0": "beta", "10000": "adaptive", "30000": "levy"}'  # The example.


def _quantile_tolerance(alpha: float, q: np.ndarray, x_q: np.ndarray, n: int) -> np.ndarray:
  """5 standard errors of the empirical q-quantile of n samples.

  The empirical quantile is asymptotically normal with std
  sqrt(q (1 - q) / n) / f(x_q), f the density; 5 sigma makes a false failure
  (~6e-7 per comparison) negligible over the ~20 comparisons here.
  """
  density = stats.levy_stable.pdf(x_q, alpha, 0.0)
  return 5.0 * np.sqrt(q * (1.0 - q) / n) / density


@pytest.mark.parametrize('alpha', [PHI, 1.0, 2.0, 0.8])
def test_stable_noise_matches_scipy_quantiles(alpha):
  q = np.array([0.1, 0.25, 0.5, 0.75, 0.9] + ([0.99] if alpha > 1 else []))
  expected = stats.levy_stable.ppf(q, alpha, 0.0)  # scipy's default S1 parameterisation.
  if alpha == 1.0:
    np.testing.assert_allclose(expected, np.tan(np.pi * (q - 0.5)), atol=1e-6)  # Cauchy.
  samples = np.asarray(pert.stable_noise(jax.random.PRNGKey(1), (N,), alpha))
  assert samples.dtype == np.float32 and np.isfinite(samples).all()
  got = np.quantile(samples, q)
  np.testing.assert_array_less(np.abs(got - expected), _quantile_tolerance(alpha, q, expected, N))


@pytest.mark.parametrize('alpha', [PHI, 0.8])
def test_stable_noise_two_sample_ks_against_scipy_rvs(alpha):
  n = 50_000
  ours = np.asarray(pert.stable_noise(jax.random.PRNGKey(2), (n,), alpha, scale=3.0))
  theirs = stats.levy_stable.rvs(alpha, 0.0, scale=3.0, size=n,
                                 random_state=np.random.default_rng(0))
  assert stats.ks_2samp(ours, theirs).pvalue > 1e-3


def test_stable_noise_alpha_two_is_gaussian_with_std_sqrt2_scale():
  scale = 0.5
  x = np.asarray(pert.stable_noise(jax.random.PRNGKey(3), (N,), 2.0, scale=scale))
  std = math.sqrt(2.0) * scale
  # Standard errors: std / sqrt(n) for the mean, std / sqrt(2 n) for the std.
  assert abs(x.mean()) < 5 * std / math.sqrt(N)
  assert abs(x.std() - std) < 5 * std / math.sqrt(2 * N)
  q = np.array([0.01, 0.1, 0.5, 0.9, 0.99])
  expected = stats.norm.ppf(q, scale=std)
  tol = 5 * np.sqrt(q * (1 - q) / N) / stats.norm.pdf(expected, scale=std)
  np.testing.assert_array_less(np.abs(np.quantile(x, q) - expected), tol)


def test_stable_noise_deterministic_scaled_jittable_and_cast():
  key = jax.random.PRNGKey(4)
  a = pert.stable_noise(key, (3, 5))
  np.testing.assert_array_equal(a, pert.stable_noise(key, (3, 5)))
  assert a.shape == (3, 5) and a.dtype == jnp.float32
  assert not np.array_equal(a, pert.stable_noise(jax.random.PRNGKey(5), (3, 5)))
  np.testing.assert_allclose(pert.stable_noise(key, (3, 5), scale=2.5), 2.5 * a, rtol=1e-6)
  jitted = jax.jit(pert.stable_noise, static_argnums=(1, 2))(key, (3, 5), PHI)
  np.testing.assert_allclose(jitted, a, rtol=1e-5, atol=1e-6)
  assert pert.stable_noise(key, (4,), dtype=jnp.bfloat16).dtype == jnp.bfloat16


def test_stable_noise_extreme_alpha_is_finite():
  for alpha in (0.1, 0.5, 1.5, 1.999):
    x = pert.stable_noise(jax.random.PRNGKey(6), (10_000,), alpha)
    assert np.isfinite(np.asarray(x)).all(), alpha
  # alpha = 0.1 overflows float32 and float16: saturated at the largest finite value.
  for dtype in (jnp.float32, jnp.float16):
    x = np.asarray(pert.stable_noise(jax.random.PRNGKey(6), (10_000,), 0.1, dtype=dtype))
    assert np.isfinite(x).all() and np.abs(x).max() == jnp.finfo(dtype).max


@pytest.mark.parametrize('alpha', [0.0, -1.0, 2.01, float('nan')])
def test_stable_noise_invalid_alpha_raises(alpha):
  with pytest.raises(ValueError, match='alpha'):
    pert.stable_noise(jax.random.PRNGKey(0), (2,), alpha)
  with pytest.raises(ValueError, match='alpha'):
    pert.PerturbationConfig(levy_alpha=alpha)


def test_config_defaults_and_validation():
  cfg = pert.PerturbationConfig()
  assert cfg.levy_alpha == constants.LEVY_ALPHA == PHI
  assert cfg.beta_a == cfg.beta_b == PHI and cfg.dt == 0.5
  with pytest.raises(ValueError, match='levy_scale'):
    pert.PerturbationConfig(levy_scale=0.0)


@pytest.mark.parametrize('a,b', [(PHI, PHI), (2.0, 1.0)])
def test_beta_time_steps_mean_and_range(a, b):
  dt = 0.5
  n = 50_000
  steps = np.asarray(pert.beta_time_steps(jax.random.PRNGKey(7), (n,), dt, a, b))
  assert steps.dtype == np.float32
  assert steps.min() >= 0.0 and steps.max() <= 2 * dt
  mean = 2 * dt * a / (a + b)
  std = 2 * dt * math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
  assert abs(steps.mean() - mean) < 5 * std / math.sqrt(n)
  assert abs(steps.std() - std) < 0.02 * std  # Standard error ~0.3%.
  if a == b:
    assert abs(mean - dt) < 1e-12


def test_levy_kick_clipped_and_dtype_preserved():
  cfg = pert.PerturbationConfig(levy_alpha=0.8, levy_scale=0.01, levy_clip=10.0)
  bound = cfg.levy_clip * cfg.levy_scale
  field = jnp.linspace(-1.0, 1.0, 20_000, dtype=jnp.float32).reshape(100, 200)
  kicked = pert.levy_kick(jax.random.PRNGKey(8), field, cfg)
  delta = np.asarray(kicked - field)
  assert kicked.shape == field.shape and kicked.dtype == jnp.float32
  assert np.abs(delta).max() <= bound * (1 + 1e-5)
  # alpha = 0.8: P(|X| > 10) ~ 9%, so the clip is hit, and both ends of it.
  assert (np.abs(delta) > 0.999 * bound).mean() > 0.03
  assert delta.max() > 0.999 * bound and delta.min() < -0.999 * bound
  for dtype in (jnp.float16, jnp.bfloat16):
    f = (field * 100).astype(dtype)  # Up to 100: float16 spacing 0.06 there.
    out = pert.levy_kick(jax.random.PRNGKey(8), f, cfg)
    assert out.dtype == dtype and out.shape == f.shape
    assert np.isfinite(np.asarray(out, np.float32)).all()
    step = np.abs(np.asarray(out, np.float32) - np.asarray(f, np.float32))
    spacing = np.abs(np.asarray(f, np.float32)) * float(jnp.finfo(dtype).eps)
    assert (step <= bound + spacing + 1e-3).all()


def test_levy_kick_huge_scale_float16_stays_finite():
  cfg = pert.PerturbationConfig(levy_alpha=0.5, levy_scale=1000.0, levy_clip=10.0)
  out = pert.levy_kick(jax.random.PRNGKey(9), jnp.zeros((1000,), jnp.float16), cfg)
  assert np.isfinite(np.asarray(out, np.float32)).all()


def test_levy_kick_complex_field_kicks_both_parts():
  cfg = pert.PerturbationConfig()
  field = jnp.zeros((500,), jnp.complex64)
  out = pert.levy_kick(jax.random.PRNGKey(10), field, cfg)
  assert out.dtype == jnp.complex64
  assert np.abs(out.real).max() > 0 and np.abs(out.imag).max() > 0
  assert not np.allclose(out.real, out.imag)


def test_adaptive_weight_endpoints():
  np.testing.assert_allclose(pert.adaptive_weight(0.0), 1.0)
  np.testing.assert_allclose(pert.adaptive_weight(1.0), 0.0)
  np.testing.assert_allclose(pert.adaptive_weight(jnp.array([-0.5, 0.25, 2.0])),
                             [1.0, 0.75, 0.0])
  w = pert.adaptive_weight(jnp.full((2, 3), 0.4, jnp.bfloat16))
  assert w.shape == (2, 3) and w.dtype == jnp.float32


@pytest.mark.parametrize('kind', pert.KINDS)
def test_perturb_each_kind(kind):
  cfg = pert.PerturbationConfig()
  key = jax.random.PRNGKey(11)
  field = jax.random.normal(jax.random.PRNGKey(12), (4, 6), jnp.float32)
  coherence = jnp.array([[0.0], [0.5], [1.0], [0.2]])  # Per-example, [B, 1].
  new, dt = pert.perturb(kind, key, field, coherence, cfg)
  assert new.shape == field.shape and new.dtype == field.dtype
  assert dt.dtype == jnp.float32
  if kind == 'none':
    np.testing.assert_array_equal(new, field)
    assert dt.shape == () and float(dt) == cfg.dt
  elif kind == 'levy':
    assert not np.array_equal(new, field)
    assert np.abs(new - field).max() <= cfg.levy_clip * cfg.levy_scale * (1 + 1e-5)
    assert dt.shape == () and float(dt) == cfg.dt
  elif kind == 'beta':
    np.testing.assert_array_equal(new, field)
    assert dt.shape == () and 0.0 <= float(dt) <= 2 * cfg.dt
  else:
    levy_field, _ = pert.perturb('levy', key, field, coherence, cfg)
    _, beta_dt = pert.perturb('beta', key, field, coherence, cfg)
    w = np.asarray(pert.adaptive_weight(coherence))
    np.testing.assert_allclose(new, field + w * (levy_field - field), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(new[2], field[2])  # Coherence 1: untouched.
    np.testing.assert_allclose(new[0], levy_field[0], rtol=1e-6)  # Coherence 0: full kick.
    assert dt.shape == (4, 1)
    np.testing.assert_allclose(dt, w * beta_dt + (1 - w) * cfg.dt, rtol=1e-6)
    np.testing.assert_allclose(dt[2], cfg.dt)
    np.testing.assert_allclose(dt[0], beta_dt, rtol=1e-6)


def test_perturb_unknown_kind_and_bad_coherence_raise():
  cfg = pert.PerturbationConfig()
  with pytest.raises(ValueError, match=r"'gauss'.*'none', 'levy', 'beta', 'adaptive'"):
    pert.perturb('gauss', jax.random.PRNGKey(0), jnp.zeros(3), 0.0, cfg)
  with pytest.raises(ValueError, match='broadcast'):
    pert.perturb('adaptive', jax.random.PRNGKey(0), jnp.zeros(3), jnp.zeros((2, 3)), cfg)


def test_perturb_by_index_matches_perturb_under_jit():
  dtype = jnp.bfloat16  # 'adaptive' promotes to float32: the switch must cast back.
  cfg = pert.PerturbationConfig(levy_scale=0.05)
  key = jax.random.PRNGKey(13)
  field = jax.random.normal(jax.random.PRNGKey(14), (3, 5)).astype(dtype)
  coherence = jnp.array([[0.1], [0.6], [0.95]])
  traces = []

  @jax.jit
  def by_index(index, key, field, coherence):
    traces.append(index)
    return pert.perturb_by_index(index, key, field, coherence, cfg)

  for i, kind in enumerate(pert.KINDS):
    want_field, want_dt = pert.perturb(kind, key, field, coherence, cfg)
    got_field, got_dt = by_index(jnp.int32(i), key, field, coherence)
    assert got_field.dtype == dtype and got_dt.shape == (3, 1)
    np.testing.assert_allclose(np.asarray(got_field, np.float32),
                               np.asarray(want_field, np.float32), rtol=1e-2, atol=1e-5)
    np.testing.assert_allclose(got_dt, jnp.broadcast_to(want_dt, (3, 1)), rtol=1e-6)
  assert len(traces) == 1  # One compilation for all kinds.


def test_parse_schedule_example_and_mapping():
  expected = ((0, 'beta'), (10000, 'adaptive'), (30000, 'levy'))
  assert pert.parse_schedule(EXAMPLE) == expected
  assert pert.parse_schedule({30000: 'levy', '0': 'beta', 10000: 'adaptive'}) == expected
  assert pert.parse_schedule('{"0": "none"}') == ((0, 'none'),)


@pytest.mark.parametrize('spec,bad', [
    ('{"0": "beta",', 'Malformed JSON'),
    ('["beta"]', 'list'),
    ('"levy"', "'levy'"),
    ('[]', 'JSON object'),
    ('{}', 'Empty'),
    ({}, 'Empty'),
    ('{"0": "beta", "-5": "levy"}', "'-5'"),
    ('{"0": "beta", "1.5": "levy"}', "'1.5'"),
    ('{"0": "beta", "ten": "levy"}', "'ten'"),
    ({0: 'beta', -1: 'levy'}, '-1'),
    ({0: 'beta', True: 'levy'}, 'True'),
    ('{"0": "beta", "100": "gauss"}', "'gauss'"),
    ('{"0": "beta", "100": 3}', '3'),
    ('{"0": "beta", "00": "levy"}', 'more than once'),
    ('{"10": "beta", "20": "levy"}', 'step 0'),
])
def test_parse_schedule_errors(spec, bad):
  with pytest.raises(ValueError) as info:
    pert.parse_schedule(spec)
  message = str(info.value)
  assert bad in message
  assert repr(spec) in message  # Quotes the spec.


def test_kind_at_boundaries():
  schedule = pert.parse_schedule(EXAMPLE)
  cases = {0: 'beta', 9999: 'beta', 10000: 'adaptive', 29999: 'adaptive',
           30000: 'levy', 10**6: 'levy'}
  for step, kind in cases.items():
    assert pert.kind_at(schedule, step) == kind, step
  with pytest.raises(ValueError, match='precedes'):
    pert.kind_at(schedule, -1)


def test_kind_index_at_under_jit_equals_kind_at():
  schedule = pert.parse_schedule(EXAMPLE)
  index_at = jax.jit(lambda step: pert.kind_index_at(schedule, step))
  for step in (0, 1, 9999, 10000, 10001, 29999, 30000, 10**6):
    index = index_at(jnp.int32(step))
    assert index.dtype == jnp.int32
    assert pert.KINDS[int(index)] == pert.kind_at(schedule, step), step
  assert pert.KINDS[int(pert.kind_index_at(schedule, 20000))] == 'adaptive'
  unsorted = ((5, 'levy'), (0, 'none'))  # Tolerated: sorted internally.
  assert pert.KINDS[int(pert.kind_index_at(unsorted, 7))] == 'levy'


def test_config_is_frozen_and_replaceable():
  cfg = dataclasses.replace(pert.PerturbationConfig(), dt=0.25)
  assert cfg.dt == 0.25
  with pytest.raises(dataclasses.FrozenInstanceError):
    cfg.dt = 1.0  # type: ignore[misc]
