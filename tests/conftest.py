"""Shared fixtures: the Tiny Shakespeare file, a small corpus, tiny configs.

Compilation dominates this suite's time on CPU, so XLA's backend optimisation
is turned down (compiles ~40% faster; inherited by the subprocesses of
test_experiments.py) and JAX's persistent compilation cache is on, so the
same program traced again (e.g. a resumed run's train step) is not recompiled.

The library is not written for `jax_numpy_rank_promotion='raise'` (its
broadcasts of [H] against [B, H] rely on rank promotion), so the tests keep
JAX's default.
"""

from __future__ import annotations

import os
import pathlib
import sys

if '--xla_backend_optimization_level' not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                             + ' --xla_backend_optimization_level=0').strip()

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
  sys.path.insert(0, str(REPO_ROOT))

SHAKESPEARE = REPO_ROOT.parent / 'shared' / 'data' / 'tiny_shakespeare.txt'
_WORDS = ('the cat sat on a mat', 'to be or not to be', 'all is well',
          'a rose by any other name', 'now is the winter')


def small_corpus(num_lines: int = 160, seed: int = 0) -> str:
  """A deterministic, repetitive corpus of ~4,000 characters."""
  rng = np.random.default_rng(seed)
  return ''.join(_WORDS[i] + '.\n' for i in rng.integers(0, len(_WORDS), num_lines))


@pytest.fixture(scope='session', autouse=True)
def _compilation_cache(tmp_path_factory):
  """A persistent compilation cache private to this session (and xdist worker)."""
  jax.config.update('jax_compilation_cache_dir',
                    str(tmp_path_factory.mktemp('jax_cache')))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)


@pytest.fixture(scope='session')
def shakespeare_path() -> str:
  """The shared Tiny Shakespeare file; skips the test when it is absent."""
  if not SHAKESPEARE.is_file():
    pytest.skip(f'{SHAKESPEARE} is absent.')
  return str(SHAKESPEARE)


@pytest.fixture(scope='session')
def small_corpus_path(tmp_path_factory) -> str:
  """A small local_text corpus (no shared data needed)."""
  path = tmp_path_factory.mktemp('corpus') / 'small.txt'
  path.write_text(small_corpus())
  return str(path)


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory) -> str:
  """A TFDS data_dir shared by the session's tests."""
  return str(tmp_path_factory.mktemp('tfds_data'))


@pytest.fixture(scope='session')
def tiny_config(small_corpus_path, data_dir):
  """`tiny_config(variant='original')`: landauer_original.py shrunk to test size.

  Data: `local_text` on the small corpus, prepared into the session data_dir.
  """
  from experiments.configs import landauer_original  # pylint: disable=g-import-not-at-top

  def make(variant: str = 'original'):
    config = landauer_original.get_config()
    config.log_every = 1
    config.data.dataset = 'local_text'
    config.data.local_path = small_corpus_path
    config.data.data_dir = data_dir
    config.model.variant = variant
    config.model.embed_dim = 8
    config.model.hidden_dim = 8
    config.model.model_dim = 8
    config.model.num_layers = 2
    config.train.batch_size = 2
    config.train.seq_len = 8
    config.train.num_steps = 6
    config.eval.every = 3
    config.eval.window = 8
    config.eval.num_streams = 4
    config.checkpoint.every = 3
    return config
  return make
