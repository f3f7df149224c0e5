"""fieldjax.generation: its logits equal the whole-sequence model's (generation sees what
training saw); `stream` hands tokens to a writer and keeps summary statistics in flat memory."""

import dataclasses
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fieldjax import field
from fieldjax import generation
from fieldjax import model
from fieldjax import recall
from fieldjax import sites

CFG = model.ModelConfig(vocab_size=13, embed_dim=8, lags=3, lattice_dim=32,
                        field=field.FieldConfig(chunk=4, window=8))
# Jitted: one compile per shape (eagerly, every primitive compiles on its own).
init_params = jax.jit(model.init_params, static_argnums=0)
next_token_logits = jax.jit(generation.next_token_logits, static_argnames=('cfg',))
log_probs = jax.jit(model.log_probs, static_argnames=('cfg',))


# CFG with the field's traces and a sparse crystal (field_best.py's parts).
SPARSE = dataclasses.replace(CFG, field=dataclasses.replace(CFG.field, trace_scales=2),
                             sites=sites.SitesConfig(table_bits=8, orders=(1, 2, 4)))
# ... and recall with charges, as field_best.py (its gains set non-zero below; the floor form
# differs only in f, which tests/test_field_recall.py checks against NumPy).
RECALL = dataclasses.replace(SPARSE, recall=recall.RecallConfig(softening=0.3, buckets=4,
                                                                dt=0.05))


def _params(cfg):
  p = init_params(cfg, jax.random.PRNGKey(0))
  # A non-empty crystal and non-uniform counts, so the check is not trivially zero.
  p = {**p, 'crystal': jax.random.normal(jax.random.PRNGKey(1), p['crystal'].shape),
       'counts': p['counts'] + jnp.arange(cfg.vocab_size, dtype=jnp.float32)}
  if cfg.sites.enabled:
    p['site_table'] = jax.random.normal(jax.random.PRNGKey(2), p['site_table'].shape)
  if cfg.recall.enabled:
    p['recall_gain'] = jnp.linspace(0.5, 2.0, cfg.recall.buckets)
  return p


@pytest.fixture(scope='module')
def params():
  return _params(CFG)


@pytest.mark.parametrize('cfg', [CFG, SPARSE, RECALL], ids=['dense', 'sparse', 'recall'])
@pytest.mark.parametrize('prompt_len', [2, 7, 12])
def test_next_token_logits_equal_log_probs_of_the_prompt(cfg, prompt_len):
  params = _params(cfg)
  tokens = jnp.asarray(np.random.default_rng(prompt_len).integers(0, 13, prompt_len), jnp.int32)
  context = 12  # Right-aligned in the buffer, left padding invalid.
  buffer = jnp.zeros((context,), jnp.int32).at[context - prompt_len:].set(tokens)
  valid = jnp.arange(context) >= context - prompt_len
  logits = next_token_logits(params, buffer, valid, cfg)
  expected = log_probs(params, tokens[None], cfg)[0, -1]
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


def _stream(params, num_tokens, written):
  return generation.stream(params, CFG, np.asarray([1, 2, 3]), written.append,
                           num_tokens=num_tokens, key=jax.random.PRNGKey(0), context=8,
                           chunk=32)


def test_stream_writes_every_token_and_averages_the_collapse():
  params = init_params(CFG, jax.random.PRNGKey(0))
  written = []
  stats = _stream(params, 68, written)  # The last chunk, 4 tokens, compiles as in the test above.
  tokens = np.concatenate(written)
  assert [len(w) for w in written] == [32, 32, 4] and stats['tokens'] == 68
  chunks = list(generation.generate(params, CFG, np.asarray([1, 2, 3]), num_tokens=68,
                                    key=jax.random.PRNGKey(0), context=8, chunk=32))
  np.testing.assert_array_equal(tokens, np.concatenate([c['tokens'] for c in chunks]))
  steps = np.concatenate([c['collapse_steps'] for c in chunks])
  coherence = np.concatenate([c['coherence'] for c in chunks])
  # float64 sums of 68 float32 values against NumPy's mean: a few ulps.
  np.testing.assert_allclose(stats['mean_collapse_steps'], steps.mean(), rtol=1e-12)
  np.testing.assert_allclose(stats['mean_coherence'], coherence.mean(), rtol=1e-6)


def test_stream_memory_does_not_grow_with_the_length():
  """32x more tokens, same Python memory: nothing is kept per token.

  Keeping two floats per token in lists (the old command line) grows by ~100
  bytes a token, i.e. ~400 KiB over the extra 4,032 tokens here; the bound
  leaves room for allocator noise only.
  """
  params = init_params(CFG, jax.random.PRNGKey(0))
  _stream(params, 32, [])  # Compiles the chunk.

  def peak(num_tokens):
    tracemalloc.start()
    _stream(params, num_tokens, _Discard())
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top
  short, long = peak(128), peak(4096)
  assert long - short < 64 * 1024, (short, long)


class _Discard(list):
  def append(self, item):
    del item
