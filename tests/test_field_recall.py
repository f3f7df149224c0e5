"""fieldjax.recall: its features and gains against NumPy, causality, validation."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from field_fixtures import SPARSE
from fieldjax import model
from fieldjax import recall

CFG = recall.RecallConfig(softening=0.3, buckets=4)


def _features_numpy(z, tokens, valid, vocab, cfg):
  """Recall's features written out per pair of positions (module docstring)."""
  length = len(tokens)
  f = np.zeros((length, vocab))
  bucket = np.zeros(length, int)
  for t in range(length):
    votes, total = np.zeros(vocab), 0.0
    for s in range(t):
      if valid[s]:
        pull = (np.sum((z[t] - z[s]) ** 2) + cfg.softening ** 2) ** -1.5
        votes[tokens[s + 1]] += pull
        total += pull
    c = votes / total if total > 0 else votes
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


def test_model_with_recall_is_causal():
  cfg = dataclasses.replace(SPARSE, recall=CFG)
  params = model.init_params(cfg, jax.random.PRNGKey(0))
  params['recall_gain'] = jnp.linspace(0.5, 2.0, CFG.buckets)
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
    ({'rate': -0.1}, 'rate')])
def test_recall_config_rejects_bad_values(kwargs, match):
  with pytest.raises(ValueError, match=match):
    recall.RecallConfig(**kwargs)
  assert not recall.RecallConfig().enabled and recall.RecallConfig(softening=0.1).enabled
