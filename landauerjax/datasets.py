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
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import tensorflow_datasets as tfds

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
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def read_text_file(path: str | os.PathLike[str]) -> str:
  """Reads a UTF-8 corpus, with errors that name the file."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'Data file not found: {path!r}')
  with open(path, 'rb') as f:
    raw = f.read()
  try:
    text = raw.decode('utf-8')
  except UnicodeDecodeError as e:
    raise ValueError(f'Data file {path!r} is not UTF-8 text: {e}') from e
  if len(text) < 10:
    raise ValueError(
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
      path = dl_manager.download(TINY_SHAKESPEARE_URL)  # Checked against checksums.tsv.
    else:
      path = self._local_path
      if not os.path.isfile(path):
        raise FileNotFoundError(f'Data file not found: {path!r}')
      digest = file_sha256(path)
      if digest != TINY_SHAKESPEARE_SHA256:
        raise ValueError(
            f'{path!r} is not the canonical Tiny Shakespeare file (sha256 '
            f'{digest}, expected {TINY_SHAKESPEARE_SHA256}). To train on a '
            "corpus of your own use config.data.dataset='local_text'.")
    return read_text_file(path)


class LocalText(_CharCorpusBuilder):
  """Any local UTF-8 text file, split 90/10; one config per file content."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First version.'}

  def __init__(self, *, local_path: str | None = None, **kwargs: Any):
    if not local_path:
      raise ValueError("dataset 'local_text' needs data.local_path=FILE.")
    if not os.path.isfile(local_path):
      raise FileNotFoundError(f'Data file not found: {local_path!r}')
    self._local_path = local_path
    kwargs.setdefault('config', tfds.core.BuilderConfig(
        name='sha256_' + file_sha256(local_path)[:16],
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

  Returns:
    {'train': str, 'validation': str}; splits with several examples (as under
    `tfds.testing.mock_data`) are joined with newlines.
  """
  if dataset not in BUILDERS:
    raise ValueError(
        f'Unknown dataset {dataset!r}; expected one of {sorted(BUILDERS)}.')
  if local_path and not os.path.isfile(local_path):
    raise FileNotFoundError(f'Data file not found: {local_path!r}')
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
