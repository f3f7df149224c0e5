"""fieldjax.generation.stream: tokens to a writer, summary statistics in flat memory."""

import tracemalloc

import jax
import numpy as np

from fieldjax import field
from fieldjax import generation
from fieldjax import model

CFG = model.ModelConfig(vocab_size=13, embed_dim=8, lags=3, lattice_dim=32,
                        field=field.FieldConfig(chunk=4, window=8))


def _stream(params, num_tokens, written):
  return generation.stream(params, CFG, np.asarray([1, 2, 3]), written.append,
                           num_tokens=num_tokens, key=jax.random.PRNGKey(0), context=8,
                           chunk=32)


def test_stream_writes_every_token_and_averages_the_collapse():
  params = model.init_params(CFG, jax.random.PRNGKey(0))
  written = []
  stats = _stream(params, 70, written)
  tokens = np.concatenate(written)
  assert [len(w) for w in written] == [32, 32, 6] and stats['tokens'] == 70
  chunks = list(generation.generate(params, CFG, np.asarray([1, 2, 3]), num_tokens=70,
                                    key=jax.random.PRNGKey(0), context=8, chunk=32))
  np.testing.assert_array_equal(tokens, np.concatenate([c['tokens'] for c in chunks]))
  steps = np.concatenate([c['collapse_steps'] for c in chunks])
  coherence = np.concatenate([c['coherence'] for c in chunks])
  # float64 sums of 70 float32 values against NumPy's mean: a few ulps.
  np.testing.assert_allclose(stats['mean_collapse_steps'], steps.mean(), rtol=1e-12)
  np.testing.assert_allclose(stats['mean_coherence'], coherence.mean(), rtol=1e-6)


def test_stream_memory_does_not_grow_with_the_length():
  """32x more tokens, same Python memory: nothing is kept per token.

  Keeping two floats per token in lists (the old command line) grows by ~100
  bytes a token, i.e. ~400 KiB over the extra 4,032 tokens here; the bound
  leaves room for allocator noise only.
  """
  params = model.init_params(CFG, jax.random.PRNGKey(0))
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
