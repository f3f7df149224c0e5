"""Shared fixtures: the Tiny Shakespeare file, a small corpus, tiny configs.

Compilation dominates this suite's time on CPU, so XLA's backend optimisation
is turned down (compiles ~40% faster; inherited by the subprocesses of
test_experiments.py) and JAX's persistent compilation cache is on, private to the
run and shared by the xdist workers and the commands they start, so the same program
traced again (e.g. a resumed run's train step, or the same tiny run in another file)
is not recompiled. `JAX_ENABLE_COMPILATION_CACHE=false pytest ...` runs without it.

The library is not written for `jax_numpy_rank_promotion='raise'` (its
broadcasts of [H] against [B, H] rely on rank promotion), so the tests keep
JAX's default.
"""

from __future__ import annotations

import os
import pathlib
import sys
import zipfile

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


def fake_wikitext(num_articles: int, seed: int = 0) -> str:
  """A raw WikiText-like file: ' = Title = ' articles with ' = = Section = = ' parts."""
  rng = np.random.default_rng(seed)
  words = small_corpus(40, seed).split()
  lines = [' \n']
  for a in range(num_articles):
    lines += [f' = Article {a} = \n', ' \n']
    for s in range(int(rng.integers(1, 3))):
      if s:
        lines += [f' = = Section {s} = = \n', ' \n']
      sentence = ' '.join(rng.choice(words, int(rng.integers(5, 15))))
      lines += [f' {sentence} , naïve café – {a} @-@ {s} . \n', ' \n']
  return ''.join(lines)


def wikitext_docs(raw: str) -> list[str]:
  """The articles of a raw WikiText file, as the builders split it."""
  from landauerjax.core import text_files  # pylint: disable=g-import-not-at-top
  return list(text_files.wikitext_articles(raw.splitlines(keepends=True)))


@pytest.fixture(scope='session', autouse=True)
def _compilation_cache(tmp_path_factory):
  """A persistent compilation cache private to this test run, shared by its xdist
  workers: a program one worker compiled, the other loads (e.g. the same tiny training
  run in two test files). JAX names entries by a hash of the program, compiler options
  and versions; a half-written entry read by the other worker is recompiled."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    root = root.parent  # This run's directory, above the workers' own (popen-gw0, ...).
  cache = root / 'jax_cache'
  cache.mkdir(exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', str(cache))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  # The commands run in subprocesses (and the entry point drivers) cache too, here: never
  # in the user's own cache (experiments.common.run takes JAX's variable as the user's).
  os.environ['JAX_COMPILATION_CACHE_DIR'] = str(cache)
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'


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
def wikitext_files(tmp_path_factory) -> dict[str, str]:
  """A fake WikiText-2 (5, 2 and 3 articles): {'zip': its archive, 'dir': the directory
  it was extracted into, and split -> raw text}."""
  from landauerjax.core import text_files  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('wikitext')
  texts = {'train': fake_wikitext(5, 0), 'validation': fake_wikitext(2, 1),
           'test': fake_wikitext(3, 2)}
  extracted = root / 'wikitext-2-raw'
  extracted.mkdir()
  for split, name in text_files.WIKITEXT_FILES.items():
    (extracted / name).write_text(texts[split], encoding='utf-8')
  with zipfile.ZipFile(root / 'wikitext-2-raw-v1.zip', 'w') as archive:
    for name in text_files.WIKITEXT_FILES.values():
      archive.write(extracted / name, f'wikitext-2-raw/{name}')
  return {'zip': str(root / 'wikitext-2-raw-v1.zip'), 'dir': str(root), **texts}


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory) -> str:
  """A TFDS data_dir shared by the session's tests."""
  return str(tmp_path_factory.mktemp('tfds_data'))


@pytest.fixture(scope='session')
def shakespeare_splits(shakespeare_path, data_dir) -> dict[str, str]:
  """Tiny Shakespeare's text splits, prepared once into the session data_dir."""
  from landauerjax.core import text_sources  # pylint: disable=g-import-not-at-top
  return text_sources.load_text_splits('tiny_shakespeare', local_path=shakespeare_path,
                                       data_dir=data_dir)


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


@pytest.fixture(scope='session')
def landauer_run(tiny_config, tmp_path_factory) -> tuple[str, dict]:
  """(workdir, returned metrics) of `tiny_config('original')` trained in-process: 6
  steps, checkpoints 3 and 6. Shared by the test files: read it, or copy it to change it."""
  from landauerjax import train  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp('landauer_run'))
  return workdir, train.train_and_evaluate(tiny_config('original'), workdir)


@pytest.fixture(scope='session')
def field_workdir(tmp_path_factory) -> str:
  """A 2-step field LM run with the char tokenizer of the small corpus (the model, data
  and batch shapes of test_reliability.py's field runs: the same compiled programs).
  Shared by the test files: read it, or copy it to change it."""
  # pylint: disable=g-import-not-at-top
  from field_fixtures import char_corpus
  from fieldjax import config_schema as field_schema
  from fieldjax import field as field_lib
  from fieldjax import model as field_model
  from fieldjax import train as field_train
  from landauerjax.core import tokenizers
  # pylint: enable=g-import-not-at-top
  tokenizer = tokenizers.CharVocab.from_texts(small_corpus())
  cfg, train_tokens, validation_tokens = char_corpus(field_model.ModelConfig(
      vocab_size=2, embed_dim=8, lags=3, lattice_dim=32,
      field=field_lib.FieldConfig(chunk=8, window=8, num_steps=1)))
  assert cfg.vocab_size == tokenizer.vocab_size
  workdir = str(tmp_path_factory.mktemp('field_run'))
  field_train.train(cfg, field_schema.TrainConfig(
      num_steps=2, batch_size=4, seq_len=8, eval_every=2, checkpoint_every=2, eval_stride=8,
      eval_max_tokens=64, eval_batch_size=16), train_tokens=train_tokens,
      validation_tokens=validation_tokens, workdir=workdir,
      meta={'tokenizer': tokenizer.to_json(), 'dataset': 'local_text'})
  return workdir
