"""Reading the text corpora both models train on: whole splits, or documents one at a time.

Datasets (`DATASETS`), all read through `tfds.data_source` (array_record files,
no TensorFlow), the builders in `landauerjax.core.text_builders`:

* 'tiny_shakespeare', 'local_text': one document per split, canonical 90/10
  'train' / 'validation'.
* 'wikitext-2', 'wikitext-103': WikiText raw v1, one document per article;
  splits 'train', 'validation', 'test'.
* 'c4': TFDS's own `c4/en`, which must already be prepared (array_record) in
  `data_dir`; it is never downloaded from here.

`load_text_splits` returns the whole splits of a character corpus as strings
(the Landauer LM's input); `text_stream(dataset, split)` yields the documents
of any dataset one at a time, from any index, in O(1) for the TFDS-backed ones;
`data_source` gives them random access (the field LM's streamed input, packed
by grain in `landauerjax.core.streams`).

A given `local_path` is checked before TFDS (which skips the builders once a
dataset is prepared): an existing file (for tiny_shakespeare the canonical
one), a WikiText zip or directory, or none for c4. Unknown datasets and splits
raise `ConfigError`; data mistakes `DataError` / `DataNotFoundError`. Imports no model.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from landauerjax.core import text_files
from landauerjax.core.errors import ConfigError, DataError, DataNotFoundError

DATASETS = ('tiny_shakespeare', 'wikitext-2', 'wikitext-103', 'c4', 'local_text')
SPLITS = {
    'tiny_shakespeare': ('train', 'validation'),
    'local_text': ('train', 'validation'),
    'wikitext-2': ('train', 'validation', 'test'),
    'wikitext-103': ('train', 'validation', 'test'),
    'c4': ('train', 'validation'),
}
# Small enough to hold as token arrays (wikitext-2 train: ~11M characters).
IN_MEMORY_DATASETS = ('tiny_shakespeare', 'local_text', 'wikitext-2')
# Datasets whose local_path is one text file (wikitext-*: a zip or a directory).
TEXT_FILE_DATASETS = ('tiny_shakespeare', 'local_text')
# The splits whose characters make up a 'char' vocabulary: both of the Landauer
# LM's (landauerjax.input_pipeline.load_corpus), so the two models train on the
# same files; on Tiny Shakespeare the same 65 characters, in the same order, as
# from 'train' alone.
CHAR_VOCAB_SPLITS = ('train', 'validation')
C4_NAME = 'c4/en'


def _tfds() -> tuple[Any, Any]:
  """(tensorflow_datasets, landauerjax.core.text_builders): TFDS with our builders registered.

  Imported on first use, not with this module: checking a dataset name or a
  local file, and every command that reads no corpus (the device benchmark on
  a machine without TFDS, say), need neither TFDS nor its ~0.3 s import.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from landauerjax.core import text_builders  # pylint: disable=g-import-not-at-top
  return tfds, text_builders


def check_dataset(dataset: str) -> None:
  if dataset not in DATASETS:
    raise ConfigError(f'Unknown dataset {dataset!r}; expected one of {list(DATASETS)}.')


def check_split(dataset: str, split: str) -> None:
  check_dataset(dataset)
  if split not in SPLITS[dataset]:
    raise ConfigError(f'Unknown split {split!r} of dataset {dataset!r}; expected one of '
                      f'{list(SPLITS[dataset])}.')


def check_local_path(dataset: str, local_path: str) -> None:
  """Raises unless `local_path` ('' = none given) suits the dataset.

  tiny_shakespeare / local_text: an existing text file (for tiny_shakespeare
  the canonical one, by its memoised sha256); wikitext-*: a zip archive or a
  directory holding the three wiki.*.raw files; c4: no local_path at all.
  """
  if not local_path:
    return
  if dataset == 'c4':
    raise DataError(f"Dataset 'c4' takes no local_path (got {local_path!r}); prepare "
                    'c4/en in data_dir instead and leave local_path empty.')
  if dataset in TEXT_FILE_DATASETS:
    text_files.check_data_file(local_path)
    if dataset == 'tiny_shakespeare':
      text_files.check_tiny_shakespeare(local_path)
    return
  text_files.check_wikitext_copy(local_path)


def as_str(text: Any) -> str:
  """Real records decode to bytes, mocked ones (tfds.testing.mock_data) arrive as str."""
  if isinstance(text, bytes):
    return text.decode('utf-8')
  if isinstance(text, np.ndarray):
    return as_str(text.item())
  return str(text)


def load_text_splits(dataset: str, *, local_path: str = '',
                     data_dir: str = '') -> dict[str, str]:
  """Prepares (if needed) and reads a character corpus through `tfds.data_source`.

  Args:
    dataset: 'tiny_shakespeare' or 'local_text'.
    local_path: a local copy of the corpus ('' downloads Tiny Shakespeare).
    data_dir: TFDS data directory ('' uses TFDS's default).

  A given `local_path` is checked on every call, whether or not TFDS has
  prepared the dataset already (TFDS then never runs the builder): it must be a
  file, and for 'tiny_shakespeare' the canonical one (the hash is memoised, so
  repeated calls cost a stat).

  Returns:
    {'train': str, 'validation': str}; splits with several examples (as under
    `tfds.testing.mock_data`) are joined with newlines.

  Raises:
    ConfigError: an unknown dataset.
    DataNotFoundError: `local_path` does not exist.
    DataError: `local_path` is a directory, not UTF-8, too short, or (for
      'tiny_shakespeare') not the canonical file; 'local_text' without a path.
  """
  if dataset not in TEXT_FILE_DATASETS:
    raise ConfigError(f'Unknown dataset {dataset!r}; expected one of '
                      f'{sorted(TEXT_FILE_DATASETS)}.')
  check_local_path(dataset, local_path)
  tfds, text_builders = _tfds()
  builder_cls = text_builders.BUILDERS[dataset]
  sources = tfds.data_source(
      builder_cls.name,
      split=['train', 'validation'],
      data_dir=data_dir or None,
      builder_kwargs={'local_path': local_path or None},
  )
  splits = {}
  for name, source in zip(['train', 'validation'], sources):
    splits[name] = '\n'.join(as_str(source[i]['text']) for i in range(len(source)))
  return splits


def _c4_source(split: str, data_dir: str):
  """The array_record data source of a prepared `c4/en` split; never downloads."""
  tfds, _ = _tfds()
  # TFDS without TensorFlow does not import its dataset modules by itself.
  importlib.import_module('tensorflow_datasets.text.c4')
  builder = tfds.builder(C4_NAME, data_dir=data_dir or None, file_format='array_record')
  if not builder.is_prepared():
    raise DataNotFoundError(
        f"Dataset 'c4' ({C4_NAME} {builder.version}) is not prepared in "
        f"{builder.data_dir!r}, and fieldjax never downloads it (~800 GiB, built "
        'from Common Crawl). Prepare it once on a large machine with `tfds build '
        'c4/en --file_format=array_record --data_dir=DIR` (Apache Beam; see '
        'https://www.tensorflow.org/datasets/beam_datasets), or copy an '
        f'array_record-prepared c4/en/{builder.version} directory into DIR, then '
        'pass data_dir=DIR.')
  try:
    return builder.as_data_source(split=split)
  except NotImplementedError as e:
    raise DataError(
        f'{C4_NAME} in {builder.data_dir!r} is not prepared as array_record, which '
        'reading without TensorFlow needs; prepare it with --file_format=array_record.'
    ) from e


def data_source(dataset: str, split: str, *, local_path: str = '', data_dir: str = ''
                ) -> Sequence[Any]:
  """The documents of a split as a random-access sequence of records {'text': ...}.

  What grain reads (`landauerjax.core.streams`): a TFDS array_record data
  source for wikitext-* and c4, a one-record list for tiny_shakespeare and
  local_text (their split is one document). Arguments as in `text_stream`.
  """
  check_split(dataset, split)
  check_local_path(dataset, local_path)
  if dataset in TEXT_FILE_DATASETS:
    return [{'text': load_text_splits(dataset, local_path=local_path, data_dir=data_dir)[split]}]
  if dataset == 'c4':
    return _c4_source(split, data_dir)
  tfds, text_builders = _tfds()
  builder_cls = text_builders.WIKITEXT_BUILDERS[dataset]
  return tfds.data_source(builder_cls.name, split=split, data_dir=data_dir or None,
                          builder_kwargs={'local_path': local_path or None})


def text_stream(dataset: str, split: str, *, local_path: str = '', data_dir: str = '',
                start: int = 0) -> Iterator[str]:
  """Yields the documents of a split, one at a time, from document `start` on.

  Args:
    dataset: one of `DATASETS`.
    split: one of `SPLITS[dataset]`.
    local_path: tiny_shakespeare / local_text: the text file; wikitext-*: the
      raw zip or its extracted directory ('' downloads, checked against
      checksums.tsv); c4: must be ''.
    data_dir: TFDS data directory ('' uses TFDS's default). Preparation, when
      needed (not c4), happens on the first call.
    start: index of the first document to yield (skips without reading the
      earlier ones).
  """
  source = data_source(dataset, split, local_path=local_path, data_dir=data_dir)
  return (as_str(source[i]['text']) for i in range(max(0, start), len(source)))
