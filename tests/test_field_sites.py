"""fieldjax.sites: addresses against a NumPy reference, causality, and the delta rule's update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fieldjax import sites

CFG = sites.SitesConfig(table_bits=10, orders=(1, 2, 4))
addresses = jax.jit(sites.addresses, static_argnames=('cfg',))
site_update = jax.jit(sites.site_update, static_argnames=('cfg',))


def _mix_np(h: np.ndarray, v: np.ndarray) -> np.ndarray:
  """The 32-bit hash round in NumPy (uint64 arithmetic, masked to 32 bits)."""
  m = (1 << 32) - 1
  h = ((h ^ v) * 0x9E3779B1) & m
  h ^= h >> 15
  h = (h * 0x85EBCA6B) & m
  return h ^ (h >> 13)


def reference_addresses(tokens, valid, cfg):
  """Position by position: order n hashes tokens t, t-1, ..., t-n+1 (+1; 0 before the start)."""
  rows = np.zeros((len(tokens), len(cfg.orders)), np.int64)
  active = np.zeros((len(tokens), len(cfg.orders)), bool)
  for t in range(len(tokens)):
    for j, n in enumerate(cfg.orders):
      h = np.uint64(0x2545F491)
      for k in range(n):
        h = _mix_np(h, np.uint64(tokens[t - k] + 1 if t - k >= 0 else 0))
      rows[t, j] = int(_mix_np(h, np.uint64(n))) >> (32 - cfg.table_bits)
      active[t, j] = t - n + 1 >= 0 and all(valid[t - k] for k in range(n))
  return rows, active


@pytest.mark.parametrize('padding', [0, 3])
def test_addresses_match_the_numpy_reference(padding):
  rng = np.random.default_rng(padding)
  tokens = rng.integers(0, 50, 12)
  valid = np.arange(12) >= padding
  rows, active = addresses(jnp.asarray(tokens, jnp.int32), jnp.asarray(valid), cfg=CFG)
  want_rows, want_active = reference_addresses(tokens, valid, CFG)
  np.testing.assert_array_equal(np.asarray(active), want_active)
  np.testing.assert_array_equal(np.asarray(rows), want_rows)
  assert np.asarray(rows).min() >= 0 and np.asarray(rows).max() < CFG.num_sites


def test_a_site_depends_only_on_its_own_context():
  """Same n tokens ending at t -> same order-n site, wherever they occur (causal, exact)."""
  tokens = jnp.asarray([5, 1, 2, 3, 9, 9, 1, 2, 3, 7], jnp.int32)
  rows, active = addresses(tokens, None, cfg=CFG)
  rows = np.asarray(rows)
  # '1 2 3' ends at t = 3 and t = 8: orders 1 ('3') and 2 ('2 3') share rows; order 4 differs.
  assert rows[3, 0] == rows[8, 0] and rows[3, 1] == rows[8, 1]
  assert rows[3, 2] != rows[8, 2]  # '5 1 2 3' vs '9 1 2 3'.
  changed = np.asarray(addresses(tokens.at[6].set(0), None, cfg=CFG)[0])
  np.testing.assert_array_equal(changed[:6], rows[:6])  # Nothing before t = 6 moves.
  assert (changed[6:10, 0] != rows[6:10, 0]).tolist() == [True, False, False, False]
  assert not np.asarray(active)[:3, 2].any() and np.asarray(active)[3:, 2].all()


def reference_update(table, visits, rows, active, error, cfg, weight=None):
  """The rule in loops: per site, min(rate, cap / hits) times its summed error."""
  table, visits = table.copy(), visits.copy()
  on = active.astype(np.float64) * (1.0 if weight is None else weight[:, None])
  hits = np.zeros_like(visits)
  summed = np.zeros_like(table)
  for i in range(rows.shape[0]):
    for j in range(rows.shape[1]):
      hits[rows[i, j]] += on[i, j]
      summed[rows[i, j]] += on[i, j] * error[i]
  for r in np.nonzero(hits)[0]:
    rate = max(cfg.floor, cfg.eta / (1.0 + visits[r] / cfg.anneal))
    table[r] += min(rate, cfg.cap / hits[r]) * summed[r]
  return table, visits + hits


@pytest.mark.parametrize('with_weight', [False, True])
def test_site_update_matches_the_numpy_reference(with_weight):
  rng = np.random.default_rng(1)
  cfg = sites.SitesConfig(table_bits=3, orders=(1, 2), eta=0.5, floor=0.1, anneal=2.0, cap=0.7)
  table = rng.normal(size=(8, 5)).astype(np.float32)
  visits = rng.integers(0, 20, 8).astype(np.float32)
  rows = rng.integers(0, 8, (30, 2))  # Many repeats: the cap binds for some sites.
  active = rng.random((30, 2)) < 0.8
  probs = rng.dirichlet(np.ones(5), 30)
  error = np.eye(5)[rng.integers(0, 5, 30)] - probs
  weight = (rng.random(30) < 0.7).astype(np.float32) if with_weight else None
  new_table, new_visits = site_update(
      jnp.asarray(table), jnp.asarray(visits), jnp.asarray(rows, jnp.int32), jnp.asarray(active),
      jnp.asarray(error, jnp.float32), cfg=cfg,
      weight_N=None if weight is None else jnp.asarray(weight))
  want_table, want_visits = reference_update(table.astype(np.float64), visits.astype(np.float64),
                                             rows, active, error, cfg, weight)
  np.testing.assert_allclose(np.asarray(new_visits), want_visits, rtol=0, atol=0)
  # float32 sums of <= 30 terms of size <= 1 times rates <= 0.5: a few ulps of ~10.
  np.testing.assert_allclose(np.asarray(new_table), want_table, rtol=0, atol=1e-5)


def test_a_site_moves_at_most_cap_times_two_per_batch():
  """Each error row has L1 norm <= 2 (onehot minus a distribution), and a site's summed
  rate over the batch is <= cap, so no row moves by more than 2 cap in L1."""
  cfg = sites.SitesConfig(table_bits=4, orders=(1,), eta=10.0, floor=5.0, cap=0.25)
  rng = np.random.default_rng(2)
  rows = jnp.asarray(rng.integers(0, 16, (500, 1)), jnp.int32)
  probs = rng.dirichlet(np.ones(7) * 0.1, 500)
  error = jnp.asarray(np.eye(7)[rng.integers(0, 7, 500)] - probs, jnp.float32)
  table = jnp.zeros((16, 7))
  new_table, _ = site_update(table, jnp.zeros((16,)), rows, jnp.ones((500, 1), bool), error,
                             cfg=cfg)
  moved = np.abs(np.asarray(new_table)).sum(1)
  assert moved.max() <= 2 * cfg.cap + 1e-5
  assert moved.max() > 0.1  # It did learn.


def test_inactive_sites_are_neither_read_nor_written():
  table = jnp.ones((8, 3))
  rows = jnp.asarray([[1, 2], [3, 4]], jnp.int32)
  active = jnp.asarray([[True, False], [False, False]])
  np.testing.assert_array_equal(np.asarray(sites.site_logits(table, rows, active)),
                                [[1, 1, 1], [0, 0, 0]])
  new, visits = site_update(table, jnp.zeros((8,)), rows, active, jnp.ones((2, 3)),
                            cfg=sites.SitesConfig(table_bits=3))
  assert np.asarray(visits).tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
  changed = np.nonzero(np.any(np.asarray(new) != 1.0, axis=1))[0]
  assert changed.tolist() == [1]


@pytest.mark.parametrize('kwargs, match', [
    ({'table_bits': 31}, 'table_bits'), ({'table_bits': 4, 'orders': ()}, 'orders'),
    ({'table_bits': 4, 'orders': (0, 1)}, 'orders'), ({'table_bits': 4, 'orders': (2, 2)}, 'orders'),
    ({'eta': 0.0}, 'eta'), ({'cap': -1.0}, 'cap')])
def test_bad_settings_are_named(kwargs, match):
  with pytest.raises(ValueError, match=match):
    sites.SitesConfig(**kwargs)


def test_orders_become_a_tuple():
  assert sites.SitesConfig(table_bits=2, orders=[3, 1]).orders == (3, 1)
  assert not sites.SitesConfig().enabled and sites.SitesConfig().num_sites == 0
