"""Tests of landauerjax.sampling.generate."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landauerjax import models
from landauerjax import sampling

V = 9
PROMPT = np.array([1, 4, 2], np.int32)


@pytest.fixture(scope='module')
def lm():
  """A small seed model with random (non-init) parameters: (model, params)."""
  config = models.ModelConfig(vocab_size=V, variant='original', embed_dim=6, hidden_dim=8,
                              num_layers=2)
  rng = np.random.default_rng(0)
  shapes = jax.eval_shape(lambda k: models.init_params(config, k), jax.random.PRNGKey(0))
  params = jax.tree_util.tree_map(
      lambda s: jnp.asarray(0.5 * rng.standard_normal(s.shape), s.dtype), shapes)
  return models.LandauerLM(config), params


def _generate(lm, n, seed=0, **kwargs):
  model, params = lm
  chunks = list(sampling.generate(params, model, PROMPT, n, jax.random.PRNGKey(seed),
                                  **kwargs))
  return np.concatenate(chunks) if chunks else np.zeros(0, np.int32), chunks


def test_deterministic_for_a_key_and_varies_with_it(lm):
  first, _ = _generate(lm, 30, seed=0, chunk=4)
  again, _ = _generate(lm, 30, seed=0, chunk=4)
  other, _ = _generate(lm, 30, seed=1, chunk=4)
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)
  assert first.dtype == np.int32 and first.min() >= 0 and first.max() < V
  assert len(set(first.tolist())) > 1


@pytest.mark.parametrize('n,sizes', [(10, [4, 4, 2]), (8, [4, 4]), (3, [3]), (0, [])])
def test_chunks_add_up_to_the_requested_length(lm, n, sizes):
  tokens, chunks = _generate(lm, n, chunk=4)
  assert [len(c) for c in chunks] == sizes
  assert tokens.shape == (n,)


def test_stopping_early_gives_a_prefix(lm):
  full, _ = _generate(lm, 30, seed=2, chunk=4)
  short, _ = _generate(lm, 10, seed=2, chunk=4)
  np.testing.assert_array_equal(short, full[:10])


def test_each_chunk_draws_fresh_randomness(lm):
  model, params = lm
  # Zero weights: uniform logits whatever the state, so only keys choose tokens.
  zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
  chunks = list(sampling.generate(zeros, model, PROMPT, 40, jax.random.PRNGKey(0), chunk=4))
  assert len({c.tobytes() for c in chunks}) > 1
  assert set(np.concatenate(chunks).tolist()) == set(range(V))


def test_greedy_does_not_depend_on_chunk_size(lm):
  by_4, _ = _generate(lm, 11, temperature=0.0, chunk=4)
  by_3, _ = _generate(lm, 11, seed=5, temperature=0.0, chunk=3)
  np.testing.assert_array_equal(by_3, by_4)


def test_top_k_one_is_greedy(lm):
  greedy, _ = _generate(lm, 11, temperature=0.0, chunk=4)
  top1, _ = _generate(lm, 11, seed=3, temperature=1.0, top_k=1, chunk=4)
  np.testing.assert_array_equal(top1, greedy)


def test_greedy_matches_a_step_loop(lm):
  model, params = lm
  step = jax.jit(lambda carry, token: model.apply({'params': params}, carry, token,
                                                  method=models.LandauerLM.step))
  carry = models.initial_state(model.config, 1)
  for token in PROMPT:
    carry, logits, _ = step(carry, jnp.array([token]))
  expected, expected_states = [], []
  for _ in range(11):
    token = int(np.argmax(np.asarray(logits[0])))
    expected.append(token)
    carry, logits, top = step(carry, jnp.array([token]))
    expected_states.append(np.asarray(top[0]))
  pairs = list(sampling.generate(params, model, PROMPT, 11, jax.random.PRNGKey(0),
                                 temperature=0.0, chunk=4, return_states=True))
  tokens = np.concatenate([t for t, _ in pairs])
  states = np.concatenate([s for _, s in pairs])
  np.testing.assert_array_equal(tokens, expected)
  assert states.shape == (11, model.config.hidden_dim)
  np.testing.assert_allclose(states, np.stack(expected_states), atol=1e-5)


def test_bad_arguments(lm):
  model, params = lm
  key = jax.random.PRNGKey(0)
  with pytest.raises(ValueError, match='empty'):
    list(sampling.generate(params, model, np.zeros(0, np.int32), 5, key))
  with pytest.raises(ValueError, match='max_new_tokens'):
    list(sampling.generate(params, model, PROMPT, -1, key))


def test_unrolled_sampling_draws_the_same_tokens(lm):
  """The scan's unroll (kernels.default_unroll off the CPU) changes no token."""
  model, params = lm
  carry, logits = sampling.prefill(params, model, jnp.asarray(PROMPT[None]))
  draw = lambda unroll: sampling.sample_chunk(
      params, model, carry, logits, jax.random.PRNGKey(3), chunk=10, temperature=0.9,
      top_k=0, unroll=unroll)[2]
  np.testing.assert_array_equal(draw(1), draw(4))
