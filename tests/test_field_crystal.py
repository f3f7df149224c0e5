"""fieldjax.crystal: the Hebbian update, lags, postsynaptic rules, bounded norm."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fieldjax import constants
from fieldjax import crystal
from fieldjax import model


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


def _instar_numpy(lattice, c, h, winners, rate, weight=None):
  """The instar rule written out per position and site (crystal.instar_update)."""
  n_pos, num_sites = h.shape
  weight = np.ones(n_pos) if weight is None else weight
  delta = np.zeros_like(lattice, np.float64)
  won = np.zeros(num_sites)
  for n in range(n_pos):
    top = np.argsort(-h[n], kind='stable')[:winners]
    total = h[n, top].sum()
    for j in top:
      share = weight[n] * h[n, j] / total if total > 0 else 0.0
      delta[:, j] += share * (c[n] - lattice[:, j])
      won[j] += share
  return lattice + rate * delta / np.maximum(won, 1.0)


@pytest.mark.parametrize('weighted', [False, True])
def test_instar_update_matches_numpy(weighted):
  rng = np.random.default_rng(3)
  lattice = rng.standard_normal((5, 12)).astype(np.float32)
  c = rng.standard_normal((7, 5)).astype(np.float32)
  h = np.asarray(crystal.lattice_response(jnp.asarray(c), jnp.asarray(lattice),
                                          jnp.zeros(12)))
  weight = (rng.uniform(size=7) < 0.6).astype(np.float32) if weighted else None
  got = crystal.instar_update(jnp.asarray(lattice), jnp.asarray(c), jnp.asarray(h), 3, 0.4,
                              None if weight is None else jnp.asarray(weight))
  np.testing.assert_allclose(np.asarray(got), _instar_numpy(lattice, c, h, 3, 0.4, weight),
                             rtol=1e-5, atol=1e-6)


def test_instar_moves_only_winning_sites_towards_their_inputs():
  lattice = jnp.eye(4, 6) * 2.0  # Sites 0..3 answer one input axis each; 4 and 5 nothing.
  c = jnp.asarray([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]])
  h = crystal.lattice_response(c, lattice, jnp.zeros(6))
  new = np.asarray(crystal.instar_update(lattice, c, h, 1, 1.0))
  moved = np.abs(new - np.asarray(lattice)).max(axis=0) > 0
  assert moved.tolist() == [True, False, True, False, False, False]
  # Rate 1: each winner lands on the (one) input it won, from 2 e_0 to c_0 = e_0 ...
  np.testing.assert_allclose(new[:, 0], [1.0, 0, 0, 0], atol=1e-6)
  np.testing.assert_allclose(new[:, 2], [0, 0, 3.0, 0], atol=1e-6)
  # ... and at rate 0.25 a quarter of the way.
  quarter = np.asarray(crystal.instar_update(lattice, c, h, 1, 0.25))
  np.testing.assert_allclose(quarter[:, 0], [1.75, 0, 0, 0], atol=1e-6)
  # Nothing responds to the zero input: it teaches nothing.
  zero = jnp.zeros((1, 4))
  np.testing.assert_array_equal(np.asarray(crystal.instar_update(
      lattice, zero, crystal.lattice_response(zero, lattice, jnp.zeros(6)), 2, 1.0)),
      np.asarray(lattice))


def test_instar_keeps_every_site_within_the_inputs_and_its_start():
  # Rate <= 1: each column is a convex combination of itself and the inputs.
  rng = np.random.default_rng(4)
  lattice = jnp.asarray(rng.standard_normal((6, 32)), jnp.float32) * 3.0
  bound = np.linalg.norm(np.asarray(lattice), axis=0)
  for step in range(30):
    c = jnp.asarray(rng.standard_normal((16, 6)), jnp.float32)
    bound = np.maximum(bound, float(jnp.linalg.norm(c, axis=1).max()))
    h = crystal.lattice_response(c, lattice, jnp.zeros(32))
    lattice = crystal.instar_update(lattice, c, h, 4, 1.0)
    norms = np.linalg.norm(np.asarray(lattice), axis=0)
    assert np.all(norms <= bound * (1 + 1e-5)), step


def test_index_sum_is_a_scatter_on_cpu_and_a_masked_sum_elsewhere(monkeypatch):
  """Counts (integer-valued) are exact on both paths; float sums equal within rounding."""
  rng = np.random.default_rng(0)
  index = jnp.asarray(rng.integers(0, 7, 500), jnp.int32)
  values = jnp.asarray(rng.standard_normal(500), jnp.float32)
  ones = jnp.ones(500, jnp.float32)
  want_counts = np.bincount(np.asarray(index), minlength=7).astype(np.float32)
  want_sums = np.bincount(np.asarray(index), np.asarray(values, np.float64), minlength=7)
  cpu_jaxpr = str(jax.make_jaxpr(lambda v, i: crystal.index_sum(v, i, 7))(values, index))
  assert 'scatter-add' in cpu_jaxpr
  np.testing.assert_array_equal(crystal.index_sum(ones, index, 7), want_counts)
  np.testing.assert_allclose(crystal.index_sum(values, index, 7), want_sums, rtol=1e-5,
                             atol=1e-5)
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  gpu_jaxpr = str(jax.make_jaxpr(lambda v, i: crystal.index_sum(v, i, 7))(values, index))
  assert 'scatter' not in gpu_jaxpr
  np.testing.assert_array_equal(jax.jit(crystal.index_sum, static_argnums=2)(ones, index, 7),
                                want_counts)
  np.testing.assert_allclose(jax.jit(crystal.index_sum, static_argnums=2)(values, index, 7),
                             want_sums, rtol=1e-5, atol=1e-5)
