"""fieldjax.recall: its features and gains against NumPy, causality, validation."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from field_fixtures import SPARSE
from fieldjax import model
from fieldjax import perturbations
from fieldjax import recall

CFG = recall.RecallConfig(softening=0.3, buckets=4)


def _features_numpy(z, tokens, valid, vocab, cfg, num_steps=1, mass=None):
  """Recall's features written out per pair of positions (module docstring); with cfg.dt > 0
  the charge of t relaxed step by step, num_steps times, not by the closed form."""
  length = len(tokens)
  f = np.zeros((length, vocab))
  bucket = np.zeros(length, int)
  for t in range(length):
    votes, total = np.zeros(vocab), 0.0
    for s in range(t):
      if valid[s]:
        pull = (np.sum((z[t] - z[s]) ** 2) + cfg.softening ** 2) ** -1.5
        pull *= 1.0 if mass is None else mass[s]
        votes[tokens[s + 1]] += pull
        total += pull
    c = votes / total if total > 0 else votes
    if cfg.dt > 0:
      q = np.full(vocab, 1.0 / vocab)
      for _ in range(num_steps):
        q = (q + cfg.dt * votes) / (1.0 + cfg.dt * total)
      row = np.log(q)
    else:
      row = np.log(c + cfg.floor)
    f[t] = row - row.mean()
    bucket[t] = min(int(np.floor(np.log2(1.0 + total))), cfg.buckets - 1)
  return f, bucket


@pytest.mark.parametrize('padded', [False, True])
def test_recall_features_match_numpy(padded):
  rng = np.random.default_rng(0)
  z = rng.standard_normal((9, 5)).astype(np.float32) * 0.5
  tokens = rng.integers(0, 6, 9)
  valid = np.arange(9) >= (3 if padded else 0)
  f, bucket = recall.recall_features(jnp.asarray(z), jnp.asarray(tokens), jnp.asarray(valid),
                                     6, CFG)
  f_np, bucket_np = _features_numpy(z, tokens, valid, 6, CFG)
  # float32 distances and logs of values >= 1e-3: a few ulps of |f| <= ~7.
  np.testing.assert_allclose(np.asarray(f), f_np, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(bucket), bucket_np)
  # Positions with no earlier real token are pulled by nothing: a constant row, centred to
  # zero up to the rounding of ln(1e-3) ~ -6.9 in float32 (a few ulps, ~5e-7).
  first = 4 if padded else 1
  np.testing.assert_allclose(np.asarray(f)[:first], 0.0, rtol=0, atol=4e-6)
  # The last Q positions alone (generation: Q = 1) are the same rows.
  for queries in (1, 4):
    f_q, bucket_q = recall.recall_features(jnp.asarray(z), jnp.asarray(tokens),
                                           jnp.asarray(valid), 6, CFG, num_queries=queries)
    np.testing.assert_allclose(np.asarray(f_q), f_np[-queries:], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(bucket_q), bucket_np[-queries:])


CHARGES = recall.RecallConfig(softening=0.3, buckets=4, dt=0.05)


@pytest.mark.parametrize('num_steps', [0, 1, 3])
def test_charge_relaxation_matches_numpy_steps(num_steps):
  """The closed form q^S = w^S / V + (1 - w^S) c equals S implicit steps of the charges."""
  rng = np.random.default_rng(5)
  z = rng.standard_normal((12, 4)).astype(np.float32) * 0.6
  tokens = rng.integers(0, 5, 12)
  valid = np.arange(12) >= 2
  mass = rng.uniform(0.5, 2.0, 12).astype(np.float32)  # The sources' masses scale their pull.
  f, bucket = recall.recall_features(jnp.asarray(z), jnp.asarray(tokens), jnp.asarray(valid),
                                     5, CHARGES, mass_T=jnp.asarray(mass), num_steps=num_steps)
  f_np, bucket_np = _features_numpy(z, tokens, valid, 5, CHARGES, num_steps, mass)
  # |f| <= ~|ln(w^S / V)| ~ 10 here; float32 powers and logs: a few ulps.
  np.testing.assert_allclose(np.asarray(f), f_np, rtol=1e-5, atol=2e-5)
  np.testing.assert_array_equal(np.asarray(bucket), bucket_np)
  if num_steps == 0:  # The field's evolution off: every charge stays uniform, recall is silent.
    assert float(jnp.max(jnp.abs(f))) == 0.0
  else:  # Pulled particles have moved off the uniform charge.
    assert float(jnp.max(jnp.abs(f[-1]))) > 0.1


def test_charges_are_distributions_that_follow_the_evidence():
  """q^S is a distribution between the prior and c; more pull or more steps, nearer c."""
  z = jnp.asarray([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, 0.0]])
  tokens = jnp.asarray([0, 1, 2, 3])
  last = []
  for dt, steps in ((1e-3, 1), (1e-2, 1), (1e-2, 2)):
    cfg = recall.RecallConfig(softening=0.5, dt=dt)
    f, _ = recall.recall_features(z, tokens, None, 4, cfg, num_steps=steps)
    q = np.exp(np.asarray(f[3]))
    q = q / q.sum()  # f is ln q centred: the softmax recovers q exactly when q sums to 1.
    assert int(np.argmax(q)) == 1  # z_3 = z_0, and token 1 followed position 0.
    last.append(q[1])
  assert 0.25 < last[0] < last[1] < last[2] < 1.0
  # A huge pull cannot make a log infinite: the prior's weight underflows, q stays >= 1e-30.
  cfg = recall.RecallConfig(softening=1e-6, dt=1.0)
  f, _ = recall.recall_features(z, tokens, None, 4, cfg, num_steps=4)
  assert bool(jnp.all(jnp.isfinite(f)))


def test_recall_features_are_bounded_and_centred():
  """c_t is a distribution, so ln(floor) <= f <= ln(1 + floor) before centring: every entry of
  f - mean f lies within ln((1 + floor) / floor), and each row sums to zero."""
  rng = np.random.default_rng(3)
  cfg = recall.RecallConfig(softening=0.05, buckets=8, floor=1e-3)
  for scale in (1e-3, 1.0, 1e3):  # Coincident, near and far particles.
    z = jnp.asarray(rng.standard_normal((40, 6)) * scale, jnp.float32)
    tokens = jnp.asarray(rng.integers(0, 7, 40))
    f, bucket = recall.recall_features(z, tokens, None, 7, cfg)
    assert bool(jnp.all(jnp.isfinite(f)))
    assert float(jnp.max(jnp.abs(f))) <= np.log((1 + cfg.floor) / cfg.floor) * (1 + 1e-6)
    np.testing.assert_allclose(np.asarray(jnp.sum(f, -1)), 0.0, atol=5e-5)  # 7 x ulp(6.9).
    assert int(jnp.min(bucket)) >= 0 and int(jnp.max(bucket)) <= cfg.buckets - 1


def test_recall_reads_what_followed_a_matching_past():
  # A particle identical to an earlier one is pulled hardest by it, and so predicts its successor.
  z = jnp.asarray([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
  tokens = jnp.asarray([0, 1, 2, 3])
  f, _ = recall.recall_features(z, tokens, None, 4, recall.RecallConfig(softening=0.1))
  assert int(jnp.argmax(f[3])) == 2  # z_3 = z_1, and token 2 followed position 1.


def test_gain_update_matches_numpy():
  rng = np.random.default_rng(1)
  f = rng.standard_normal((10, 6)).astype(np.float32)
  error = rng.standard_normal((10, 6)).astype(np.float32)
  bucket = np.array([0, 0, 1, 3, 3, 3, 0, 1, 1, 3])
  gain = np.array([0.1, -0.2, 0.3, 0.4], np.float32)
  got = recall.gain_update(jnp.asarray(gain), jnp.asarray(f), jnp.asarray(bucket),
                           jnp.asarray(error), 0.5)
  expected = gain.copy()
  for b in range(4):
    rows = bucket == b
    if rows.any():
      expected[b] += 0.5 * np.mean(np.sum(f[rows] * error[rows], -1))
  np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('form', ['floor', 'charges'])
def test_model_with_recall_is_causal(form):
  recall_cfg = CFG if form == 'floor' else CHARGES
  cfg = dataclasses.replace(SPARSE, recall=recall_cfg)
  params = model.init_params(cfg, jax.random.PRNGKey(0))
  params['recall_gain'] = jnp.linspace(0.5, 2.0, recall_cfg.buckets)
  rng = np.random.default_rng(2)
  a = rng.integers(0, 11, 14)
  b = a.copy()
  b[9:] = (a[9:] + 1) % 11
  lp = jax.jit(model.log_probs, static_argnames=('cfg',))(
      params, jnp.asarray(np.stack([a, b]), jnp.int32), cfg)
  np.testing.assert_allclose(np.asarray(lp[0, :9]), np.asarray(lp[1, :9]), rtol=0, atol=1e-5)
  assert float(jnp.abs(lp[0, 9:] - lp[1, 9:]).max()) > 1e-3  # The future does matter later.
  # Recall changes the predictions (its gains are non-zero).
  off = dataclasses.replace(cfg, recall=recall.RecallConfig())
  params_off = {k: v for k, v in params.items() if k != 'recall_gain'}
  lp_off = model.log_probs(params_off, jnp.asarray(a[None], jnp.int32), off)
  assert float(jnp.abs(lp_off[0] - lp[0]).max()) > 1e-3


@pytest.mark.parametrize('kwargs, match', [
    ({'softening': -1.0}, 'softening'), ({'buckets': 0}, 'buckets'),
    ({'trace_scales': -1}, 'trace_scales'), ({'floor': 0.0}, 'floor'),
    ({'rate': -0.1}, 'rate'), ({'dt': -1e-3}, 'dt')])
def test_recall_config_rejects_bad_values(kwargs, match):
  with pytest.raises(ValueError, match=match):
    recall.RecallConfig(**kwargs)
  assert not recall.RecallConfig().enabled and recall.RecallConfig(softening=0.1).enabled


def test_field_evolution_off_silences_the_relaxed_recall():
  """With charges (dt > 0), field.num_steps = 0 turns the whole field off: the predictions are
  those of the model without recall, whatever the gains; with the evolution on they differ."""
  tokens = jnp.asarray(np.random.default_rng(4).integers(0, 11, (2, 16)), jnp.int32)
  for steps in (0, 2):
    cfg = dataclasses.replace(SPARSE, recall=CHARGES,
                              field=dataclasses.replace(SPARSE.field, num_steps=steps))
    params = model.init_params(cfg, jax.random.PRNGKey(0))
    params['recall_gain'] = jnp.linspace(0.5, 2.0, CHARGES.buckets)
    off = dataclasses.replace(cfg, recall=recall.RecallConfig())
    params_off = {k: v for k, v in params.items() if k != 'recall_gain'}
    gap = float(jnp.abs(model.log_probs(params, tokens, cfg)
                        - model.log_probs(params_off, tokens, off)).max())
    if steps == 0:
      assert gap == 0.0
    else:
      assert gap > 1e-3


def test_charges_pull_with_gravitys_masses():
  """With charges, the model's recall (its forward pass) weighs each source by its token's mass
  (information content from the counts), as gravity does; the floor form does not."""
  tokens = jnp.asarray(np.random.default_rng(6).integers(0, 4, 10), jnp.int32)
  cfg = dataclasses.replace(SPARSE, recall=dataclasses.replace(CHARGES, trace_scales=0))
  floor = dataclasses.replace(cfg, recall=dataclasses.replace(cfg.recall, dt=0.0))
  params = model.init_params(cfg, jax.random.PRNGKey(0))
  params['counts'] = params['counts'] + 50.0 * (jnp.arange(cfg.vocab_size) == 2)  # 2: light.
  mass = model.token_masses(params['counts'])[tokens]
  none = jnp.int32(perturbations.KINDS.index('none'))
  steps = cfg.field.num_steps
  forward = jax.jit(model.forward, static_argnames=('cfg', 'last_only'))
  out = forward(params, tokens[None], jax.random.PRNGKey(0), none, cfg)
  x, (f, _) = out.x_BxTxD[0], out.features['recall']
  f_mass, _ = recall.recall_features(x, tokens, None, cfg.vocab_size, cfg.recall,
                                     mass_T=mass, num_steps=steps)
  f_one, _ = recall.recall_features(x, tokens, None, cfg.vocab_size, cfg.recall, num_steps=steps)
  np.testing.assert_allclose(np.asarray(f), np.asarray(f_mass), rtol=0, atol=1e-6)
  assert float(jnp.abs(f - f_one).max()) > 1e-3
  out = forward(params, tokens[None], jax.random.PRNGKey(0), none, floor)
  x, (f_floor, _) = out.x_BxTxD[0], out.features['recall']
  f_floor_one, _ = recall.recall_features(x, tokens, None, cfg.vocab_size, floor.recall)
  np.testing.assert_allclose(np.asarray(f_floor), np.asarray(f_floor_one), rtol=0, atol=1e-6)