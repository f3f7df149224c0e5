"""fieldjax.field: causal gravity, chunking, windows, convexity; the model stays causal."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from field_fixtures import TINY, TINY_FIELD, features, field_step
from field_fixtures import full_gravity_matrix, kind_index, log_probs, random_field
from field_fixtures import SPARSE, trained_like_params
from fieldjax import field


@pytest.mark.parametrize('t', [0, 3, 4, 7, 10])
def test_field_step_is_causal(t):
  x, mass = random_field(12, 4)
  before = np.asarray(field_step(x, mass, jnp.float32(0.5), TINY_FIELD))
  x2 = x.at[t].add(0.7)
  mass2 = mass.at[t].multiply(3.0)
  for xs, ms in ((x2, mass), (x, mass2), (x2, mass2)):
    after = np.asarray(field_step(xs, ms, jnp.float32(0.5), TINY_FIELD))
    np.testing.assert_array_equal(after[:t], before[:t])
    assert np.abs(after[t + 1:] - before[t + 1:]).max() > 1e-6


@pytest.fixture(scope='module', params=['tiny', 'sparse'])
def causal_setup(request):
  cfg = {'tiny': TINY, 'sparse': SPARSE}[request.param]
  params = trained_like_params(cfg)
  tokens = jnp.asarray(np.random.default_rng(1).integers(0, 11, 12), jnp.int32)
  return params, tokens, jax.random.PRNGKey(3), cfg


@pytest.mark.parametrize('kind', ['none', 'levy', 'beta'])
def test_model_features_and_log_probs_are_causal(causal_setup, kind):
  params, tokens, key, cfg = causal_setup
  run = lambda tok: (np.asarray(features(params, tok, key, kind_index(kind), cfg)[0]),
                     np.asarray(log_probs(params, tok[None], cfg)[0]))
  phi, lp = run(tokens)
  for t in (2, 5, 9):
    phi2, lp2 = run(tokens.at[t].set((tokens[t] + 4) % 11))
    np.testing.assert_array_equal(phi2[:t], phi[:t])
    np.testing.assert_array_equal(lp2[:t], lp[:t])
    assert np.abs(phi2[t:] - phi[t:]).max() > 1e-4
    assert np.abs(lp2[t + 1:] - lp[t + 1:]).max() > 1e-6


def test_model_features_are_causal_under_adaptive_perturbation(causal_setup):
  params, tokens, key, cfg = causal_setup
  run = lambda tok: np.asarray(features(params, tok, key, kind_index('adaptive'), cfg)[0])
  np.testing.assert_array_equal(run(tokens.at[9].set((tokens[9] + 4) % 11))[:9],
                                run(tokens)[:9])


@pytest.mark.parametrize('length,chunks', [(13, (1, 3, 4)), (8, (4,))])
def test_chunked_field_step_equals_unchunked(length, chunks):
  x, mass = random_field(length, 6, seed=length)
  dt = jnp.float32(0.8)
  whole = field_step(x, mass, dt, field.FieldConfig(chunk=64, window=64))
  for chunk in chunks:
    chunked = field_step(x, mass, dt, field.FieldConfig(chunk=chunk, window=64))
    np.testing.assert_allclose(np.asarray(chunked), np.asarray(whole), atol=1e-5, rtol=0)


def _numpy_step(x, mass, dt, cfg):
  """The implicit-self Euler step from the module docstring, float64."""
  x = np.asarray(x, np.float64)
  t = np.arange(len(x))
  offset = t[:, None] - t[None, :]
  dist2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
  r2 = dist2 + (offset / cfg.axis_range) ** 2 + cfg.softening ** 2
  a = cfg.gravity * np.asarray(mass, np.float64)[None, :] / r2 ** 1.5
  a = np.where((offset > 0) & (offset <= cfg.window), a, 0.0)
  return a, (x + dt * a @ x) / (1.0 + dt * a.sum(1, keepdims=True))


@pytest.mark.parametrize('window,chunk', [(3, 4), (3, 1), (5, 2), (1, 3)])
def test_window_cuts_gravity(window, chunk):
  x, mass = random_field(14, 4, seed=window)
  cfg = field.FieldConfig(chunk=chunk, window=window, gravity=0.5)
  full = np.asarray(full_gravity_matrix(
      x, mass, dataclasses.replace(cfg, window=1000)))
  t = np.arange(14)
  masked = np.where(t[:, None] - t[None, :] <= window, full, 0.0)
  np.testing.assert_array_equal(np.asarray(full_gravity_matrix(x, mass, cfg)), masked)
  a64, expected = _numpy_step(x, mass, 0.5, cfg)
  np.testing.assert_allclose(masked, a64, rtol=1e-4, atol=1e-7)
  got = np.asarray(field_step(x, mass, jnp.float32(0.5), cfg))
  np.testing.assert_allclose(got, expected, atol=1e-5)
  # Moving particle s moves no particle more than `window` after it.
  s = 4
  moved = np.asarray(field_step(x.at[s].add(1.0), mass, jnp.float32(0.5), cfg))
  np.testing.assert_array_equal(moved[s + window + 1:], got[s + window + 1:])
  assert np.abs(moved[s + 1:s + window + 1] - got[s + 1:s + window + 1]).min() > 0


def test_full_gravity_matrix_is_strictly_lower_triangular_and_non_negative():
  x, mass = random_field(10, 4)
  x = x.at[5].set(x[2])  # Coincident particles stay finite (softening).
  a = np.asarray(full_gravity_matrix(x, mass, field.FieldConfig(window=100)))
  assert a.shape == (10, 10) and np.isfinite(a).all()
  np.testing.assert_array_equal(np.triu(a), 0.0)
  assert (a >= 0).all()
  assert (a[np.tril_indices(10, -1)] > 0).all()


@pytest.mark.parametrize('dt', [0.0, 1e-3, 0.5, 10.0, 1e4, 1e12, 1e30])
def test_field_step_stays_in_convex_hull(dt):
  x, mass = random_field(12, 5, seed=7)
  cfg = field.FieldConfig(chunk=4, window=6, gravity=1.0)
  new = np.asarray(field_step(x, mass, jnp.float32(dt), cfg))
  assert np.isfinite(new).all()
  xs = np.asarray(x)
  lo, hi = np.minimum.accumulate(xs, axis=0), np.maximum.accumulate(xs, axis=0)
  tol = 1e-5 * (1.0 + np.abs(xs).max())
  assert (new >= lo - tol).all() and (new <= hi + tol).all()
  np.testing.assert_array_equal(new[0], xs[0])  # Nothing pulls the first particle.
  if dt == 0.0:
    np.testing.assert_array_equal(new, xs)


def test_field_step_vmap_equals_loop():
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.standard_normal((3, 10, 4)), jnp.float32)
  mass = jnp.asarray(rng.uniform(0.5, 2.0, (3, 10)), jnp.float32)
  step = lambda xx, mm: field_step(xx, mm, jnp.float32(0.5), TINY_FIELD)
  batched = np.asarray(jax.vmap(step)(x, mass))
  for b in range(3):
    np.testing.assert_allclose(batched[b], np.asarray(step(x[b], mass[b])), atol=1e-6)


traces = jax.jit(field.traces, static_argnums=1)


def test_traces_match_the_numpy_recurrence():
  x = np.random.default_rng(4).normal(size=(20, 3))
  got = np.asarray(traces(jnp.asarray(x, jnp.float32), 3)).reshape(20, 3, 3)
  phi = (1 + 5 ** 0.5) / 2
  u = np.zeros((3, 3))
  for t in range(20):
    for j in range(3):
      a = phi ** (-2 * (j + 1))
      u[j] = (1 - a) * u[j] + a * x[t]
    # float32 recurrences of 20 steps on values ~1: a few ulps.
    np.testing.assert_allclose(got[t], u, rtol=0, atol=1e-6)


def test_traces_are_causal_bounded_and_golden_spaced():
  x, _ = random_field(30, 4, seed=5)
  u = np.asarray(traces(x, 4))
  assert np.abs(u).max() <= np.abs(np.asarray(x)).max() + 1e-6  # Convex combinations.
  u2 = np.asarray(traces(x.at[12].add(1.0), 4))
  np.testing.assert_array_equal(u2[:12], u[:12])
  assert np.abs(u2[12:] - u[12:]).min() > 0  # Every later trace remembers it (no cut-off).
  rates = np.asarray(field.trace_rates(4))
  np.testing.assert_allclose(rates[:-1] / rates[1:], ((1 + 5 ** 0.5) / 2) ** 2, rtol=1e-6)


def test_negative_steps_or_scales_are_refused():
  with pytest.raises(ValueError, match='trace_scales'):
    field.FieldConfig(trace_scales=-1)


def test_squared_distances_match_a_float64_direct_difference():
  """|a|^2 + |b|^2 - 2 a.b against sum((a - b)^2) in float64.

  Tolerance: each float32 dot of D terms is off by at most ~D u |a||b| (u = 2^-24, the
  standard gamma_D bound, tiny D here), and the norms likewise, so the expansion is off by
  at most ~(D + 2) u (|a|^2 + |b|^2) in absolute terms; the relative error of near pairs is
  what the cancellation costs, which is why the bound scales with the norms, not with the
  distance. TF32 (u = 2^-11, a GPU's float32 matmul default) would miss it by ~8000x.
  """
  rng = np.random.default_rng(0)
  dim = 24
  a = rng.uniform(-1.5, 1.5, (40, dim)).astype(np.float32)
  # Half the b's within 0.05 of an a (recall's eps in field_best): where cancellation bites.
  b = np.concatenate([a[:20] + rng.uniform(-0.05, 0.05, (20, dim)).astype(np.float32),
                      rng.uniform(-1.5, 1.5, (20, dim)).astype(np.float32)])
  got = np.asarray(jax.jit(field.squared_distances)(a, b), np.float64)
  a64, b64 = a.astype(np.float64), b.astype(np.float64)
  want = np.sum((a64[:, None, :] - b64[None, :, :]) ** 2, -1)
  norms = np.sum(a64 ** 2, -1)[:, None] + np.sum(b64 ** 2, -1)[None, :]
  assert np.all(np.abs(got - want) <= (dim + 2) * 2.0 ** -24 * norms)
  assert np.all(got >= 0)


def test_distance_dots_ask_for_full_float32_precision():
  """The cross term's dot carries Precision.HIGHEST (what keeps it off TF32 on a GPU)."""
  x, _ = random_field(6, 4)
  jaxpr = str(jax.make_jaxpr(field.squared_distances)(x, x))
  assert 'dot_general' in jaxpr and 'HIGHEST' in jaxpr


def test_gravity_matrix_on_cpu_is_the_earlier_formula_within_float32_rounding():
  """Precision.HIGHEST is a no-op on CPU: A equals the earlier expression (default precision)."""
  x, mass = random_field(12, 8)
  t = jnp.arange(12)
  got = full_gravity_matrix(x, mass, TINY_FIELD)

  @jax.jit
  def earlier(x, mass):
    dist2 = (jnp.sum(x * x, -1)[:, None] + jnp.sum(x * x, -1)[None, :]
             - 2.0 * jnp.einsum('cd,kd->ck', x, x))
    offset = t[:, None] - t[None, :]
    r2 = (jnp.maximum(dist2, 0.0) + (offset.astype(jnp.float32) / TINY_FIELD.axis_range) ** 2
          + TINY_FIELD.softening ** 2)
    strength = TINY_FIELD.gravity * mass[None, :] * jax.lax.rsqrt(r2) ** 3
    return jnp.where((offset > 0) & (offset <= TINY_FIELD.window), strength, 0.0)
  np.testing.assert_allclose(got, earlier(x, mass), rtol=2e-6, atol=0)


def test_unrolled_traces_equal_the_plain_scan(monkeypatch):
  """field.scan_unroll: 1 on the CPU, 8 elsewhere; unrolled, the same traces within
  float32 rounding (XLA fuses the unrolled body differently: 2.4e-7 measured)."""
  x, _ = random_field(13, 4)
  np.testing.assert_allclose(field.traces(x, 3, unroll=8), field.traces(x, 3, unroll=1),
                             rtol=1e-6, atol=1e-6)
  assert field.scan_unroll() == 1
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert field.scan_unroll() == 8
  assert 'unroll=8' in str(jax.make_jaxpr(lambda x: field.traces(x, 2))(x))
