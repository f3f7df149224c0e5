"""TFDS dataset builders for character corpora, readable without TensorFlow.

Both builders write `array_record` files, which `tfds.data_source` reads with
no TensorFlow installed (`tfds.load` would need it). Each split holds a single
example `{'text': <the whole split>}`, like TFDS's own `tiny_shakespeare`.

* `TinyShakespeareChars` (`tiny_shakespeare_chars`): the canonical 1,115,394
  character file that TFDS uses, split 90% train / 10% validation (TFDS's
  `train` vs `validation+test`). On a networked machine it downloads the file
  and checks its sha256 against `checksums.tsv`; offline, pass the path of a
  local copy as `local_path`, which gets the same checksum check.
* `LocalText` (`local_text`): any UTF-8 text file of the user's, same split.
  Each distinct file content gets its own builder config (named by its hash),
  so two corpora never share prepared files.

`load_text_splits` checks a given `local_path` itself, before TFDS (which skips
the builders once a dataset is prepared): it must be an existing file, and for
'tiny_shakespeare' the canonical one (sha256, memoised by `local_sha256`).
Data mistakes raise `DataError` / `DataNotFoundError` (landauerjax.core.errors),
each a one-line message that names the problem and what to do.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from typing import Any

import tensorflow_datasets as tfds

from landauerjax.core.errors import ConfigError, DataError, DataNotFoundError

TINY_SHAKESPEARE_URL = (
    'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/'
    'tinyshakespeare/input.txt')
TINY_SHAKESPEARE_SHA256 = (
    '86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed')
TRAIN_FRACTION = 0.9


def canonical_split(text: str) -> dict[str, str]:
  """Splits a corpus into the first 90% (train) and last 10% (validation).

  The cut is `int(len(text) * 0.9)`, the same index TFDS's `tiny_shakespeare`
  uses, so our `validation` equals TFDS's `validation` + `test`.
  """
  cut = int(len(text) * TRAIN_FRACTION)
  return {'train': text[:cut], 'validation': text[cut:]}


def file_sha256(path: str | os.PathLike[str]) -> str:
  """sha256 (hex) of a file's bytes, read in 1 MiB blocks."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


@functools.lru_cache(maxsize=32)
def _memo_sha256(path: str, mtime_ns: int, size: int,
                 digest_fn: Callable[[str], str]) -> str:
  del mtime_ns, size  # Only part of the memo key.
  return digest_fn(path)


def local_sha256(path: str | os.PathLike[str],
                 digest_fn: Callable[[str], str] = file_sha256) -> str:
  """`digest_fn(path)` (default: `file_sha256`), memoised within the process.

  The memo key is (absolute path, mtime_ns, size, digest_fn), so a file that
  is rewritten is hashed again, and repeated checks of the same file (every
  `load_text_splits` call, the field LM's tokenizer cache keys) cost a stat.
  `digest_fn` lets other content hashes (e.g. fieldjax's hash of a WikiText
  directory) share the memo.
  """
  path = os.path.abspath(os.fspath(path))
  stat = os.stat(path)
  return _memo_sha256(path, stat.st_mtime_ns, stat.st_size, digest_fn)


def check_data_file(path: str | os.PathLike[str]) -> str:
  """Returns `path` (as str) if it is an existing regular file, else raises.

  Raises:
    DataNotFoundError: nothing exists at `path`.
    DataError: `path` is a directory (or another non-file, e.g. a FIFO).
  """
  path = os.fspath(path)
  if os.path.isfile(path):
    return path
  if os.path.isdir(path):
    raise DataError(f'{path!r} is a directory; local_path must be the corpus\'s text '
                    'file (a UTF-8 .txt file), not a folder.')
  if os.path.exists(path):
    raise DataError(f'{path!r} is not a regular file; local_path must be the '
                    'corpus\'s text file.')
  where = '' if os.path.isabs(path) else f' (resolved to {os.path.abspath(path)!r})'
  raise DataNotFoundError(f'Data file not found: {path!r}{where}; check local_path.')


def check_tiny_shakespeare(path: str | os.PathLike[str]) -> str:
  """Raises `DataError` unless `path` is the canonical Tiny Shakespeare file.

  Compares the file's sha256 (memoised, `local_sha256`) with
  `TINY_SHAKESPEARE_SHA256`; returns `path` (as str).
  """
  path = check_data_file(path)
  digest = local_sha256(path)
  if digest != TINY_SHAKESPEARE_SHA256:
    raise DataError(
        f'{path!r} is not the canonical Tiny Shakespeare file (sha256 {digest[:16]}..., '
        f'expected {TINY_SHAKESPEARE_SHA256[:16]}...). To train on a corpus of your own '
        "use dataset 'local_text': config.data.dataset='local_text' (Landauer LM) or "
        '--dataset=local_text (field LM).')
  return path


def read_text_file(path: str | os.PathLike[str]) -> str:
  """Reads a UTF-8 corpus, with errors (`DataError`, `DataNotFoundError`) that name the file."""
  path = check_data_file(path)
  with open(path, 'rb') as f:
    raw = f.read()
  try:
    text = raw.decode('utf-8')
  except UnicodeDecodeError as e:
    raise DataError(f'Data file {path!r} is not UTF-8 text ({e}); convert it to UTF-8, '
                    'e.g. with iconv -f latin1 -t utf-8.') from e
  if len(text) < 10:
    raise DataError(
        f'Data file {path!r} holds {len(text)} characters; a corpus needs at '
        'least 10 so that both splits are non-empty.')
  return text


def _split_generators_for(text: str):
  return {name: [('0', {'text': part})]
          for name, part in canonical_split(text).items()}


class _CharCorpusBuilder(tfds.core.GeneratorBasedBuilder):
  """Shared parts of the two builders below."""

  def __init__(self, **kwargs: Any):
    # array_record is the format that reads and writes without TensorFlow.
    kwargs.setdefault('file_format', 'array_record')
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({'text': tfds.features.Text()}),
        supervised_keys=None,
    )

  def _generate_examples(self, examples):
    yield from examples

  def _split_generators(self, dl_manager):
    text = self._read_corpus(dl_manager)
    return {name: self._generate_examples(examples)
            for name, examples in _split_generators_for(text).items()}

  def _read_corpus(self, dl_manager) -> str:
    raise NotImplementedError


class TinyShakespeareChars(_CharCorpusBuilder):
  """Tiny Shakespeare, whole text per split (train 90%, validation 10%)."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Canonical 90/10 split of the char-rnn file.'}

  def __init__(self, *, local_path: str | None = None, **kwargs: Any):
    self._local_path = local_path or None
    super().__init__(**kwargs)

  def _read_corpus(self, dl_manager) -> str:
    if self._local_path is None:
      try:
        path = dl_manager.download(TINY_SHAKESPEARE_URL)  # Checked against checksums.tsv.
      except Exception as e:  # pylint: disable=broad-except  # Network errors of any kind.
        raise DataNotFoundError(
            f'Could not download Tiny Shakespeare from {TINY_SHAKESPEARE_URL} '
            f'({type(e).__name__}; no network?): pass a local copy, '
            'config.data.local_path=FILE (field LM: --local_path=FILE).') from e
    else:
      path = check_tiny_shakespeare(self._local_path)
    return read_text_file(path)


class LocalText(_CharCorpusBuilder):
  """Any local UTF-8 text file, split 90/10; one config per file content."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First version.'}

  def __init__(self, *, local_path: str | None = None, **kwargs: Any):
    if not local_path:
      raise DataError("Dataset 'local_text' needs the path of your text file: set "
                      'config.data.local_path=FILE (Landauer LM) or --local_path=FILE '
                      '(field LM).')
    self._local_path = check_data_file(local_path)
    kwargs.setdefault('config', tfds.core.BuilderConfig(
        name='sha256_' + local_sha256(local_path)[:16],
        description=f'Prepared from {local_path}'))
    super().__init__(**kwargs)

  def _read_corpus(self, dl_manager) -> str:
    del dl_manager
    return read_text_file(self._local_path)


BUILDERS = {
    'tiny_shakespeare': TinyShakespeareChars,
    'local_text': LocalText,
}


def load_text_splits(dataset: str, *, local_path: str = '',
                     data_dir: str = '') -> dict[str, str]:
  """Prepares (if needed) and reads a character corpus through `tfds.data_source`.

  Args:
    dataset: 'tiny_shakespeare' or 'local_text'.
    local_path: a local copy of the corpus ('' downloads Tiny Shakespeare).
    data_dir: TFDS data directory ('' uses TFDS's default).

  A given `local_path` is checked on every call, whether or not TFDS has
  prepared the dataset already (TFDS then never runs the builder): it must be a
  file (`check_data_file`), and for 'tiny_shakespeare' the canonical one
  (`check_tiny_shakespeare`; the hash is memoised, so repeated calls cost a
  stat).

  Returns:
    {'train': str, 'validation': str}; splits with several examples (as under
    `tfds.testing.mock_data`) are joined with newlines.

  Raises:
    ConfigError: an unknown dataset.
    DataNotFoundError: `local_path` does not exist.
    DataError: `local_path` is a directory, not UTF-8, too short, or (for
      'tiny_shakespeare') not the canonical file; 'local_text' without a path.
  """
  if dataset not in BUILDERS:
    raise ConfigError(
        f'Unknown dataset {dataset!r}; expected one of {sorted(BUILDERS)}.')
  if local_path:
    check_data_file(local_path)
    if dataset == 'tiny_shakespeare':
      check_tiny_shakespeare(local_path)
  builder_cls = BUILDERS[dataset]
  sources = tfds.data_source(
      builder_cls.name,
      split=['train', 'validation'],
      data_dir=data_dir or None,
      builder_kwargs={'local_path': local_path or None},
  )
  splits = {}
  for name, source in zip(['train', 'validation'], sources):
    texts = [source[i]['text'] for i in range(len(source))]
    # Real records decode to bytes, mocked ones arrive as str.
    texts = [t.decode('utf-8') if isinstance(t, bytes) else str(t) for t in texts]
    splits[name] = '\n'.join(texts)
  return splits
