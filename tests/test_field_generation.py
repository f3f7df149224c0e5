"""Generation sees what training saw: its logits equal the whole-sequence model's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fieldjax import field
from fieldjax import generation
from fieldjax import model

CFG = model.ModelConfig(vocab_size=13, embed_dim=8, lags=3, lattice_dim=32,
                        field=field.FieldConfig(chunk=4, window=8))


@pytest.fixture(scope='module')
def params():
  p = model.init_params(CFG, jax.random.PRNGKey(0))
  # A non-empty crystal and non-uniform counts, so the check is not trivially zero.
  return {**p, 'crystal': jax.random.normal(jax.random.PRNGKey(1), p['crystal'].shape),
          'counts': p['counts'] + jnp.arange(CFG.vocab_size, dtype=jnp.float32)}


@pytest.mark.parametrize('prompt_len', [2, 7, 12])
def test_next_token_logits_equal_log_probs_of_the_prompt(params, prompt_len):
  tokens = jnp.asarray(np.random.default_rng(prompt_len).integers(0, 13, prompt_len), jnp.int32)
  context = 12  # Right-aligned in the buffer, left padding invalid.
  buffer = jnp.zeros((context,), jnp.int32).at[context - prompt_len:].set(tokens)
  valid = jnp.arange(context) >= context - prompt_len
  logits = generation.next_token_logits(params, buffer, valid, CFG)
  expected = model.log_probs(params, tokens[None], CFG)[0, -1]
  # float32 log-probs down to ~-70 by two paths (buffer vs sequence): they differ by a
  # few ulps of the largest |value| (ulp(64) = 7.6e-6), small values included.
  scale = float(np.abs(np.asarray(expected)).max())
  np.testing.assert_allclose(np.asarray(jax.nn.log_softmax(logits)), np.asarray(expected),
                             rtol=0, atol=16 * np.finfo(np.float32).eps * scale)


def test_generate_yields_the_requested_number_of_tokens(params):
  chunks = list(generation.generate(params, CFG, np.array([1, 2, 3]), num_tokens=10,
                                    key=jax.random.PRNGKey(2), context=8, chunk=4))
  assert [len(c['tokens']) for c in chunks] == [4, 4, 2]
  assert all(((c['tokens'] >= 0) & (c['tokens'] < 13)).all() for c in chunks)


def test_generate_rejects_an_empty_prompt(params):
  with pytest.raises(ValueError, match='empty'):
    next(generation.generate(params, CFG, np.array([], np.int32), num_tokens=1,
                             key=jax.random.PRNGKey(0)))
