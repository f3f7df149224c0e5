"""Behaviour tests of the field LM: embeddings, field, crystal, collapse, model, train.

Tiny shapes throughout (V = 11, d = 8, D = 32 unless a test needs more), so the
file runs in seconds on CPU; compilation dominates.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import small_corpus
from fieldjax import checkpoints
from fieldjax import collapse as collapse_lib
from fieldjax import constants
from fieldjax import crystal
from fieldjax import embeddings
from fieldjax import field
from fieldjax import model
from fieldjax import perturbations
from fieldjax import train
from landauerjax import input_pipeline
from landauerjax.core import errors

TINY_FIELD = field.FieldConfig(chunk=4, window=8)

# Jitted entry points: one compile per shape and config (eager dispatch of the
# un-jitted functions compiles every primitive separately, which is slower).
field_step = jax.jit(field.field_step, static_argnames=('cfg',))
full_gravity_matrix = jax.jit(field.full_gravity_matrix, static_argnames=('cfg',))
log_probs = jax.jit(model.log_probs, static_argnames=('cfg',))
coherence = jax.jit(collapse_lib.coherence)
features = jax.jit(model.features, static_argnames=('cfg',))
TINY = model.ModelConfig(vocab_size=11, embed_dim=8, lags=3, lattice_dim=32,
                         field=TINY_FIELD)


def _kind_index(kind: str) -> jax.Array:
  return jnp.int32(perturbations.KINDS.index(kind))


def _random_field(length: int, dim: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.uniform(-1.5, 1.5, (length, dim)), jnp.float32)
  mass = jnp.asarray(rng.uniform(0.5, 2.0, length), jnp.float32)
  return x, mass


def _trained_like_params(cfg: model.ModelConfig, seed: int = 0) -> dict[str, jax.Array]:
  """init_params with a non-zero crystal and uneven counts (so outputs depend on inputs)."""
  params = model.init_params(cfg, jax.random.PRNGKey(seed))
  rng = np.random.default_rng(seed)
  params['crystal'] = jnp.asarray(
      rng.standard_normal((cfg.lattice_dim, cfg.embed_dim)), jnp.float32)
  params['counts'] = jnp.asarray(rng.integers(1, 20, cfg.vocab_size), jnp.float32)
  return params


# ---------------------------------------------------------------------------
# Embeddings.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('kind', embeddings.EMBEDDINGS)
def test_embedding_table_is_deterministic_and_unit_norm(kind):
  a = embeddings.embedding_table(kind, 65, 64)
  b = embeddings.embedding_table(kind, 65, 64)
  assert a.shape == (65, 64) and a.dtype == np.float32
  np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
  # The cached golden table is not mutated by a caller's edits of a result.
  a[:] = 0.0
  np.testing.assert_array_equal(embeddings.embedding_table(kind, 65, 64), b)


def test_golden_table_is_unit_norm_before_normalisation():
  raw = embeddings.embedding_table('golden', 100, 16, normalize=False)
  np.testing.assert_allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-6)
  # Log-phase changes the geometry: raw rows are no longer unit norm.
  raw_log = embeddings.embedding_table('log_phase', 100, 16, normalize=False)
  assert np.abs(np.linalg.norm(raw_log, axis=1) - 1.0).max() > 0.1


@pytest.mark.parametrize('vocab_size,dim', [(65, 64), (256, 64), (1000, 128)])
@pytest.mark.parametrize('kind', ['golden', 'log_phase'])
def test_golden_embeddings_spread_better_than_random(kind, vocab_size, dim):
  ours = embeddings.spread_stats(embeddings.embedding_table(kind, vocab_size, dim))
  randoms = [embeddings.spread_stats(embeddings.embedding_table('random', vocab_size, dim,
                                                                seed=s))
             for s in range(5)]
  mean_max_cos = np.mean([r['max_abs_cosine'] for r in randoms])
  mean_min_dist = np.mean([r['min_distance'] for r in randoms])
  assert ours['max_abs_cosine'] < mean_max_cos, (ours, mean_max_cos)
  assert ours['min_distance'] > mean_min_dist, (ours, mean_min_dist)


def test_spread_stats_of_known_configurations():
  square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
  stats = embeddings.spread_stats(square)
  assert stats['max_abs_cosine'] == pytest.approx(1.0)  # Antipodes: |cos| = 1.
  assert stats['min_distance'] == pytest.approx(math.sqrt(2.0))
  assert stats['rms_cosine'] == pytest.approx(math.sqrt(4 / 12))


def test_generalized_golden_ratio():
  assert embeddings.generalized_golden_ratio(1) == pytest.approx(constants.PHI, abs=1e-12)
  previous = math.inf
  for n in (1, 2, 3, 4, 8, 32, 64, 512):
    x = embeddings.generalized_golden_ratio(n)
    assert x ** (n + 1) == pytest.approx(x + 1.0, rel=1e-12), n
    assert 1.0 < x < previous  # Decreasing towards 1 as n grows.
    previous = x
  with pytest.raises(ValueError, match='0'):
    embeddings.generalized_golden_ratio(0)


def test_golden_angles_one_circle_steps_by_the_golden_angle():
  theta = embeddings.golden_angles(20, 1)[:, 0]
  steps = np.mod(np.diff(theta), 2 * math.pi)
  # alpha_1 = 1/PHI = PHI - 1, so consecutive angles differ by 2 pi (PHI - 1) = 2 pi - golden angle.
  np.testing.assert_allclose(np.mod(-steps, 2 * math.pi), constants.GOLDEN_ANGLE, atol=1e-9)


def test_embedding_table_rejects_bad_arguments():
  with pytest.raises(ValueError, match="'spiral'"):
    embeddings.embedding_table('spiral', 10, 8)
  with pytest.raises(ValueError, match='7'):
    embeddings.embedding_table('golden', 10, 7)
  with pytest.raises(ValueError, match='0'):
    embeddings.embedding_table('golden', 10, 0)
  with pytest.raises(ValueError, match='vocab_size'):
    embeddings.embedding_table('golden', 0, 8)
  with pytest.raises(ValueError, match="'spiral'"):
    model.ModelConfig(vocab_size=11, embedding='spiral')


def test_log_phase_is_odd_and_monotone():
  x = jnp.linspace(-50.0, 50.0, 2001)
  scale = embeddings.default_log_phase_scale(64)
  y = np.asarray(embeddings.log_phase(x, scale))
  np.testing.assert_allclose(np.asarray(embeddings.log_phase(-x, scale)), -y, atol=0)
  assert np.all(np.diff(y) > 0)
  assert float(embeddings.log_phase(jnp.float32(0.0), scale)) == 0.0
  np.testing.assert_allclose(float(embeddings.log_phase(jnp.float32(2.0), 0.5)),
                             math.log(5.0), rtol=1e-6)


# ---------------------------------------------------------------------------
# Field.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('t', [0, 3, 4, 7, 10])
def test_field_step_is_causal(t):
  x, mass = _random_field(12, 4)
  before = np.asarray(field_step(x, mass, jnp.float32(0.5), TINY_FIELD))
  x2 = x.at[t].add(0.7)
  mass2 = mass.at[t].multiply(3.0)
  for xs, ms in ((x2, mass), (x, mass2), (x2, mass2)):
    after = np.asarray(field_step(xs, ms, jnp.float32(0.5), TINY_FIELD))
    np.testing.assert_array_equal(after[:t], before[:t])
    assert np.abs(after[t + 1:] - before[t + 1:]).max() > 1e-6


@pytest.fixture(scope='module')
def causal_setup():
  params = _trained_like_params(TINY)
  tokens = jnp.asarray(np.random.default_rng(1).integers(0, 11, 12), jnp.int32)
  return params, tokens, jax.random.PRNGKey(3)


@pytest.mark.parametrize('kind', ['none', 'levy', 'beta'])
def test_model_features_and_log_probs_are_causal(causal_setup, kind):
  params, tokens, key = causal_setup
  run = lambda tok: (np.asarray(features(params, tok, key, _kind_index(kind), TINY)[0]),
                     np.asarray(log_probs(params, tok[None], TINY)[0]))
  phi, lp = run(tokens)
  for t in (2, 5, 9):
    phi2, lp2 = run(tokens.at[t].set((tokens[t] + 4) % 11))
    np.testing.assert_array_equal(phi2[:t], phi[:t])
    np.testing.assert_array_equal(lp2[:t], lp[:t])
    assert np.abs(phi2[t:] - phi[t:]).max() > 1e-4
    assert np.abs(lp2[t + 1:] - lp[t + 1:]).max() > 1e-6


def test_model_features_are_causal_under_adaptive_perturbation(causal_setup):
  params, tokens, key = causal_setup
  run = lambda tok: np.asarray(features(params, tok, key, _kind_index('adaptive'), TINY)[0])
  np.testing.assert_array_equal(run(tokens.at[9].set((tokens[9] + 4) % 11))[:9],
                                run(tokens)[:9])


@pytest.mark.parametrize('length,chunks', [(13, (1, 3, 4)), (8, (4,))])
def test_chunked_field_step_equals_unchunked(length, chunks):
  x, mass = _random_field(length, 6, seed=length)
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
  x, mass = _random_field(14, 4, seed=window)
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
  x, mass = _random_field(10, 4)
  x = x.at[5].set(x[2])  # Coincident particles stay finite (softening).
  a = np.asarray(full_gravity_matrix(x, mass, field.FieldConfig(window=100)))
  assert a.shape == (10, 10) and np.isfinite(a).all()
  np.testing.assert_array_equal(np.triu(a), 0.0)
  assert (a >= 0).all()
  assert (a[np.tril_indices(10, -1)] > 0).all()


@pytest.mark.parametrize('dt', [0.0, 1e-3, 0.5, 10.0, 1e4, 1e12, 1e30])
def test_field_step_stays_in_convex_hull(dt):
  x, mass = _random_field(12, 5, seed=7)
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


# ---------------------------------------------------------------------------
# Crystal.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('decay', [0.0, 0.1])
@pytest.mark.parametrize('weighted', [False, True])
def test_crystal_update_matches_numpy(decay, weighted):
  rng = np.random.default_rng(0)
  w0 = rng.standard_normal((6, 4)).astype(np.float32)
  pre = rng.standard_normal((9, 6)).astype(np.float32)
  post = rng.standard_normal((9, 4)).astype(np.float32)
  eta = 0.3
  if weighted:
    weight = (rng.uniform(size=9) < 0.6).astype(np.float32)
    weight[0] = 1.0
    hebb = sum(np.outer(pre[n], post[n]) for n in range(9) if weight[n]) / weight.sum()
  else:
    weight = None
    hebb = sum(np.outer(pre[n], post[n]) for n in range(9)) / 9
  got = crystal.crystal_update(jnp.asarray(w0), jnp.asarray(pre), jnp.asarray(post), eta,
                               decay, None if weight is None else jnp.asarray(weight))
  np.testing.assert_allclose(np.asarray(got), (1 - decay) * w0 + eta * hebb,
                             rtol=1e-5, atol=1e-6)


def test_crystal_update_with_all_weights_zero_only_decays():
  w0 = jnp.ones((3, 2))
  got = crystal.crystal_update(w0, jnp.ones((4, 3)), jnp.ones((4, 2)), 0.5, 0.25,
                               jnp.zeros(4))
  np.testing.assert_allclose(np.asarray(got), 0.75)


@pytest.mark.parametrize('lags', [1, 2, 3, 7])
def test_lagged_matches_numpy(lags):
  x = np.random.default_rng(lags).standard_normal((5, 3)).astype(np.float32)
  expected = np.zeros((5, lags * 3), np.float32)
  for t in range(5):
    for k in range(lags):
      if t - k >= 0:
        expected[t, k * 3:(k + 1) * 3] = x[t - k]
  np.testing.assert_array_equal(np.asarray(crystal.lagged(jnp.asarray(x), lags)), expected)


def test_postsynaptic_rules():
  rng = np.random.default_rng(0)
  emb = rng.standard_normal((7, 4)).astype(np.float32)
  probs = rng.dirichlet(np.ones(7), size=5).astype(np.float32)
  targets = np.array([0, 6, 3, 3, 1])
  contrastive = crystal.postsynaptic(jnp.asarray(probs), jnp.asarray(targets),
                                     jnp.asarray(emb), 'contrastive')
  np.testing.assert_allclose(np.asarray(contrastive), emb[targets] - probs @ emb,
                             rtol=1e-5, atol=1e-6)
  plain = crystal.postsynaptic(jnp.asarray(probs), jnp.asarray(targets), jnp.asarray(emb),
                               'plain')
  np.testing.assert_array_equal(np.asarray(plain), emb[targets])
  with pytest.raises(ValueError, match="'oja'"):
    crystal.postsynaptic(jnp.asarray(probs), jnp.asarray(targets), jnp.asarray(emb), 'oja')
  with pytest.raises(ValueError, match="'oja'"):
    model.ModelConfig(vocab_size=11, hebbian_rule='oja')


def test_crystal_norm_bound_holds_over_many_updates():
  eta, decay, s = constants.HEBBIAN_RATE, 0.05, 3.0
  bound = 2.0 * eta * s / decay
  rng = np.random.default_rng(0)
  steps, n, dim, emb = 400, 5, 12, 6

  def unit_rows(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)

  pre = s * unit_rows(rng.standard_normal((steps, n, dim)))
  post = unit_rows(rng.standard_normal((steps, n, emb))) * rng.uniform(0, 2, (steps, n, 1))
  # The second half is the worst case: every update aligned, |post| = 2 exactly.
  pre[steps // 2:] = s * unit_rows(np.ones(dim))
  post[steps // 2:] = 2.0 * unit_rows(np.ones(emb))

  def body(w, pre_post):
    w = crystal.crystal_update(w, pre_post[0], pre_post[1], eta, decay)
    return w, jnp.sqrt(jnp.sum(w * w))

  _, norms = jax.lax.scan(body, jnp.zeros((dim, emb)),
                          (jnp.asarray(pre, jnp.float32), jnp.asarray(post, jnp.float32)))
  norms = np.asarray(norms)
  assert (norms <= bound * (1 + 1e-5)).all(), (norms.max(), bound)
  assert norms[-1] > 0.99 * bound  # The bound is tight: the test could fail.


# ---------------------------------------------------------------------------
# Collapse.
# ---------------------------------------------------------------------------


def test_coherence_range_and_extremes():
  rng = np.random.default_rng(0)
  for _ in range(10):
    v = jnp.asarray(rng.standard_normal((6, 5)), jnp.float32)
    w = jnp.asarray(rng.uniform(0, 1, 6), jnp.float32)
    for c in (coherence(v), coherence(v, w)):
      assert 0.0 <= float(c) <= 1.0 + 1e-6
  same = jnp.tile(jnp.asarray([[0.3, -1.2, 2.0]]), (5, 1))
  assert float(coherence(same)) == pytest.approx(1.0, abs=1e-6)
  assert float(coherence(same, jnp.arange(5.0))) == pytest.approx(1.0, abs=1e-6)
  cancel = jnp.asarray([[1.0, 2.0, 0.5], [-1.0, -2.0, -0.5]])
  assert float(coherence(cancel)) == pytest.approx(0.0, abs=1e-6)
  ring = jnp.stack([jnp.cos(jnp.arange(8) * jnp.pi / 4), jnp.sin(jnp.arange(8) * jnp.pi / 4)], 1)
  assert float(coherence(ring)) == pytest.approx(0.0, abs=1e-6)
  # A prediction's coherence is |psi| for unit-norm embeddings.
  emb = jnp.asarray(embeddings.embedding_table('golden', 11, 8))
  logits = jnp.asarray(rng.standard_normal(11), jnp.float32)
  psi = jax.nn.softmax(logits) @ emb
  assert float(collapse_lib.prediction_coherence(logits, emb)) == pytest.approx(
      float(jnp.linalg.norm(psi)), rel=1e-5)


def _collapse(key, logits, emb, max_steps, **kwargs):
  return collapse_lib.collapse(
      key, logits, emb, kind='none', cfg=collapse_lib.CollapseConfig(max_steps=max_steps),
      perturbation=perturbations.PerturbationConfig(), **kwargs)


@pytest.fixture(scope='module')
def prediction():
  emb = jnp.asarray(embeddings.embedding_table('golden', 11, 8))
  logits = jnp.asarray(np.random.default_rng(2).normal(0.0, 0.5, 11), jnp.float32)
  assert float(collapse_lib.prediction_coherence(logits, emb)) < 0.5
  return logits, emb


def test_collapse_stops_when_coherence_first_reaches_threshold(prediction):
  logits, emb = prediction
  key = jax.random.PRNGKey(0)
  _, info = _collapse(key, logits, emb, 64)
  steps = int(info['steps'])
  assert bool(info['reached']) and float(info['coherence']) >= 0.91
  assert 1 < steps < 64
  _, early = _collapse(key, logits, emb, steps - 1)
  assert not bool(early['reached']) and float(early['coherence']) < 0.91
  assert int(early['steps']) == steps - 1
  # The same flow in NumPy: logits += rate * dt * E psi, psi = softmax(logits) E.
  lg, e = np.asarray(logits, np.float64), np.asarray(emb, np.float64)
  trajectory = []
  for _ in range(steps + 1):
    p = np.exp(lg - lg.max())
    psi = (p / p.sum()) @ e
    trajectory.append(np.linalg.norm(psi))
    lg = lg + 2.0 * 0.5 * (e @ psi)
  assert max(trajectory[:steps]) < 0.91 + 1e-4 and trajectory[steps] >= 0.91 - 1e-4
  np.testing.assert_allclose(float(info['coherence']), trajectory[steps], rtol=1e-4)


def test_collapse_hits_the_cap(prediction):
  logits, emb = prediction
  _, info = _collapse(jax.random.PRNGKey(0), logits, emb, 1)
  assert int(info['steps']) == 1 and not bool(info['reached'])
  assert float(info['coherence']) < 0.91


def test_collapse_of_a_coherent_prediction_takes_no_steps(prediction):
  _, emb = prediction
  sure = jnp.zeros(11).at[4].set(30.0)
  token, info = _collapse(jax.random.PRNGKey(0), sure, emb, 64)
  assert int(info['steps']) == 0 and bool(info['reached']) and int(token) == 4


def test_collapse_without_steps_is_temperature_sampling(prediction):
  logits, emb = prediction
  temperature = 0.7
  keys = jax.random.split(jax.random.PRNGKey(1), 4000)
  tokens = np.asarray(jax.jit(jax.vmap(
      lambda k: _collapse(k, logits, emb, 0, temperature=temperature)[0]))(keys))
  # The sample is categorical(logits / temperature) with collapse's sampling key.
  for key, token in zip(keys[:5], tokens[:5]):
    expected = jax.random.categorical(jax.random.split(key)[1], logits / temperature)
    assert token == int(expected)
  freq = np.bincount(tokens, minlength=11) / len(tokens)
  probs = np.asarray(jax.nn.softmax(logits / temperature))
  np.testing.assert_array_less(np.abs(freq - probs), 5 * np.sqrt(probs * (1 - probs) / 4000))


@pytest.mark.parametrize('max_steps', [0, 64])
def test_collapse_top_k_restricts_support(prediction, max_steps):
  logits, emb = prediction
  keys = jax.random.split(jax.random.PRNGKey(2), 500)
  sample = jax.jit(jax.vmap(lambda k: _collapse(k, logits, emb, max_steps, top_k=3)[0]))
  tokens = set(np.asarray(sample(keys)).tolist())
  assert 1 <= len(tokens) <= 3
  if max_steps == 0:  # Without evolution, the top 3 of the initial logits.
    assert tokens == set(np.argsort(-np.asarray(logits))[:3].tolist())


@pytest.mark.parametrize('temperature', [0.0, -1.0])
def test_collapse_rejects_non_positive_temperature(prediction, temperature):
  logits, emb = prediction
  with pytest.raises(ValueError, match='temperature'):
    _collapse(jax.random.PRNGKey(0), logits, emb, 4, temperature=temperature)


# ---------------------------------------------------------------------------
# Model.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('vocab_size', [65, 8192, 32000])
@pytest.mark.parametrize('size', sorted(model.NOMINAL_PARAMS))
def test_param_counts_near_nominal(size, vocab_size):
  count = model.param_count(model.config_for_size(size, vocab_size))
  nominal = model.NOMINAL_PARAMS[size]
  assert abs(count - nominal) <= 0.1 * nominal, (size, vocab_size, count)


def test_param_count_counts_every_parameter():
  d, k, lattice, v = TINY.embed_dim, TINY.lags, TINY.lattice_dim, TINY.vocab_size
  assert model.param_count(TINY) == k * d * lattice + lattice + lattice * d + v


def test_unknown_size_raises():
  with pytest.raises(ValueError, match="'huge'"):
    model.config_for_size('huge', 65)


def test_config_for_size_overrides():
  cfg = model.config_for_size('tiny', 30, lattice_dim=16, dtype='bfloat16')
  assert (cfg.vocab_size, cfg.embed_dim, cfg.lattice_dim, cfg.dtype) == (30, 64, 16, 'bfloat16')


def test_model_config_json_round_trip():
  cfg = model.ModelConfig(
      vocab_size=300, embed_dim=16, lags=2, lattice_dim=64, embedding='log_phase',
      hebbian_rule='plain', dtype='bfloat16', decay=1e-3,
      field=field.FieldConfig(window=32, chunk=8, num_steps=3),
      perturbation=perturbations.PerturbationConfig(levy_scale=0.02, dt=0.25),
      collapse=collapse_lib.CollapseConfig(max_steps=7))
  obj = json.loads(json.dumps(cfg.to_json()))
  again = model.ModelConfig.from_json(obj)
  assert again == cfg and hash(again) == hash(cfg)
  assert model.ModelConfig.from_json(model.ModelConfig(vocab_size=5).to_json()) == \
      model.ModelConfig(vocab_size=5)


def test_model_config_validation():
  with pytest.raises(ValueError, match='vocab_size'):
    model.ModelConfig(vocab_size=1)
  with pytest.raises(ValueError, match="'float64'"):
    model.ModelConfig(vocab_size=11, dtype='float64')
  with pytest.raises(ValueError, match='lags'):
    model.ModelConfig(vocab_size=11, lags=0)


@pytest.mark.parametrize('dtype', sorted(model.DTYPES))
def test_log_probs_shape_normalised_finite(dtype):
  cfg = dataclasses.replace(TINY, dtype=dtype)
  params = _trained_like_params(cfg)
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 11, (1, 12)), jnp.int32)
  lp = np.asarray(log_probs(params, tokens, cfg=cfg))
  assert lp.shape == (1, 12, 11) and lp.dtype == np.float32
  assert np.isfinite(lp).all()
  np.testing.assert_allclose(np.log(np.exp(lp.astype(np.float64)).sum(-1)), 0.0, atol=1e-5)
  assert lp.std(axis=(0, 1)).max() > 1e-3  # Depends on the context, not just the prior.


def test_token_masses():
  np.testing.assert_allclose(np.asarray(model.token_masses(jnp.full(17, 3.0))), 1.0,
                             rtol=1e-6)
  counts = jnp.asarray([1.0, 10.0, 100.0, 1000.0])
  masses = np.asarray(model.token_masses(counts))
  assert (np.diff(masses) < 0).all()  # Rarer tokens are heavier.
  # ln c - ln 1111 in float32: absolute error ~ulp(7) / ln 4 = 3.4e-7 (the 0.076 mass).
  np.testing.assert_allclose(masses, -np.log(counts / counts.sum()) / np.log(4), rtol=1e-5,
                             atol=1e-6)


def test_init_params_shapes_and_determinism():
  a = model.init_params(TINY, jax.random.PRNGKey(0))
  b = model.init_params(TINY, jax.random.PRNGKey(0))
  assert {k: v.shape for k, v in a.items()} == {
      'lattice': (24, 32), 'lattice_bias': (32,), 'crystal': (32, 8), 'counts': (11,)}
  for k in a:
    np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))
  assert not np.asarray(a['crystal']).any() and (np.asarray(a['counts']) == 1).all()


# ---------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------

TRAIN_MODEL = model.ModelConfig(vocab_size=2, embed_dim=16, lags=4, lattice_dim=128,
                                field=field.FieldConfig(chunk=16, window=16, num_steps=1))


@pytest.fixture(scope='module')
def corpus():
  text = small_corpus()
  vocab = input_pipeline.CharVocab.from_texts(text)
  tokens = vocab.encode(text)
  cut = int(0.9 * len(tokens))
  cfg = dataclasses.replace(TRAIN_MODEL, vocab_size=vocab.size)
  return cfg, tokens[:cut], tokens[cut:]


def test_hebbian_training_lowers_validation_ce(corpus):
  cfg, train_tokens, val_tokens = corpus
  train_cfg = train.TrainConfig(num_steps=60, batch_size=8, seq_len=16, eval_stride=16)
  schedule = perturbations.parse_schedule(train_cfg.perturbation_schedule)
  params = model.init_params(cfg, jax.random.PRNGKey(0))

  def val_ce(p):
    return train.evaluate(p, val_tokens, cfg, seq_len=16, stride=16, batch_size=32)['ce']

  before = val_ce(params)
  assert before == pytest.approx(math.log(cfg.vocab_size), abs=1e-4)  # Uniform prior.
  tokens = jnp.asarray(train_tokens)
  for step in range(1, 61):
    params, metrics = train.train_step(params, tokens, step, cfg, train_cfg, schedule)
  after = val_ce(params)
  assert math.isfinite(after) and after < before - 0.5, (before, after)
  assert float(jnp.sum(params['counts'])) == cfg.vocab_size + 60 * 8 * 16
  assert math.isfinite(float(metrics['ce']))


def _read_metrics(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    lines = [json.loads(line) for line in f]
  for line in lines:
    line.pop('tokens_per_sec')
  return lines


def test_train_resume_equals_uninterrupted_run(corpus, tmp_path):
  cfg, train_tokens, val_tokens = corpus
  n = 3
  make = lambda steps: train.TrainConfig(
      num_steps=steps, batch_size=8, seq_len=16, log_every=1, eval_every=n,
      checkpoint_every=n, eval_stride=16, eval_max_tokens=100, eval_batch_size=32,
      perturbation_schedule='{"0": "levy", "2": "adaptive", "4": "beta"}')
  run = lambda steps, workdir: train.train(cfg, make(steps), train_tokens=train_tokens,
                                           validation_tokens=val_tokens,
                                           workdir=str(workdir))
  whole, split = tmp_path / 'whole', tmp_path / 'split'
  last_whole = run(2 * n, whole)
  run(n, split)
  last_split = run(2 * n, split)
  assert last_whole == last_split
  lines = _read_metrics(whole)
  assert [line['step'] for line in lines] == list(range(1, 2 * n + 1))
  assert lines == _read_metrics(split)
  step_a, params_a, cfg_a, _ = checkpoints.load(str(whole))
  step_b, params_b, cfg_b, _ = checkpoints.load(str(split))
  assert step_a == step_b == 2 * n and cfg_a == cfg_b == cfg
  for k in params_a:
    np.testing.assert_array_equal(np.asarray(params_a[k]), np.asarray(params_b[k]))

  other = dataclasses.replace(cfg, lattice_dim=64)
  with pytest.raises(errors.WorkdirError, match='model.lattice_dim: 128 -> 64'):
    train.train(other, make(2 * n + 1), train_tokens=train_tokens,
                validation_tokens=val_tokens, workdir=str(split))


@pytest.mark.parametrize('kwargs,match', [
    ({'eval_stride': 17, 'seq_len': 16}, 'eval_stride'),
    ({'perturbation_schedule': '{"0": "levy"'}, 'Malformed JSON'),
    ({'perturbation_schedule': '{"0": "gauss"}'}, "'gauss'"),
    ({'perturbation_schedule': '{"5": "levy"}'}, 'step 0'),
    ({'perturbation_schedule': '[]'}, 'JSON object'),
    ({'batch_size': 0}, 'batch_size'),
])
def test_train_config_rejects_bad_settings(kwargs, match):
  with pytest.raises(ValueError, match=match):
    train.TrainConfig(**kwargs)
