"""Text sources of the field LM, and a streaming packer of documents into token batches.

Datasets (`DATASETS`), all read through `tfds.data_source` (array_record files,
no TensorFlow):

* 'tiny_shakespeare', 'local_text': `landauerjax.datasets` (one document per
  split, canonical 90/10 'train' / 'validation').
* 'wikitext-2', 'wikitext-103': WikiText raw v1, by our builders `Wikitext2Raw`
  / `Wikitext103Raw` below; splits 'train', 'validation', 'test'; one example
  per article, in file order, so that the articles of a split concatenated
  give back its wiki.*.raw file exactly.
* 'c4': TFDS's own `c4/en`, which must already be prepared (array_record) in
  `data_dir`; it is never downloaded from here.

Reading: `text_stream(dataset, split)` yields the documents one at a time
(from any index, in O(1) for the TFDS-backed ones); `token_batches` packs such
a stream into int32[B, T+1] batches with a small resumable `PackerState`;
`load_token_splits` holds whole small corpora in memory instead.

Data mistakes (a missing path, a directory where a file is expected, a file
that is not the canonical Tiny Shakespeare, ...) raise `DataNotFoundError` /
`DataError` (landauerjax.core.errors) before any preparation; unknown dataset,
split or tokenizer names raise `ConfigError`.

Shapes use single letters: B batch, T sequence length, N tokens.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import importlib
import io
import itertools
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, IO

import numpy as np
import tensorflow_datasets as tfds

from fieldjax import tokenizers as tokenizers_lib
from landauerjax import datasets as char_datasets
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

# WikiText raw v1 archives (Merity et al. 2016, CC BY-SA 3.0). The sizes and
# sha256 sums registered in checksums.tsv were NOT computed on this project's
# machine (it has no network): they are the values published, identically, by
# several independent projects (Hugging Face's wikitext dataset_infos,
# lm-evaluation-harness, Julia's DataDeps registry). TFDS checks every download
# against them; should they be wrong the download fails loudly (re-register on
# a networked machine with `download_config=tfds.download.DownloadConfig(
# register_checksums=True)`).
_WIKITEXT_BASE_URL = 'https://s3.amazonaws.com/research.metamind.io/wikitext/'
WIKITEXT_URLS = {
    'wikitext-2': _WIKITEXT_BASE_URL + 'wikitext-2-raw-v1.zip',
    'wikitext-103': _WIKITEXT_BASE_URL + 'wikitext-103-raw-v1.zip',
}
WIKITEXT_SHA256 = {
    'wikitext-2': 'ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11',
    'wikitext-103': '91c00ae287f0d699e18605c84afc9e45c192bc6b7797ff8837e5474655a33794',
}
WIKITEXT_FILES = {'train': 'wiki.train.raw', 'validation': 'wiki.valid.raw',
                  'test': 'wiki.test.raw'}


def _check_dataset(dataset: str) -> None:
  if dataset not in DATASETS:
    raise ConfigError(f'Unknown dataset {dataset!r}; expected one of {list(DATASETS)}.')


def _check_split(dataset: str, split: str) -> None:
  _check_dataset(dataset)
  if split not in SPLITS[dataset]:
    raise ConfigError(f'Unknown split {split!r} of dataset {dataset!r}; expected one of '
                      f'{list(SPLITS[dataset])}.')


def _check_tokenizer_kind(kind: str) -> None:
  if kind not in tokenizers_lib.KINDS:
    raise ConfigError(f'Unknown tokenizer kind {kind!r}; expected one of '
                      f'{list(tokenizers_lib.KINDS)}.')


def _check_local_path(dataset: str, local_path: str) -> None:
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
    char_datasets.check_data_file(local_path)
    if dataset == 'tiny_shakespeare':
      char_datasets.check_tiny_shakespeare(local_path)
    return
  _check_wikitext_copy(local_path)


def _as_str(text: Any) -> str:
  """Real records decode to bytes, mocked ones (tfds.testing.mock_data) arrive as str."""
  if isinstance(text, bytes):
    return text.decode('utf-8')
  if isinstance(text, np.ndarray):
    return _as_str(text.item())
  return str(text)


# WikiText.


def _is_article_title(line: str) -> bool:
  """' = Title = ' starts an article; ' = = Section = = ' does not."""
  line = line.rstrip('\r\n')
  return (len(line) > 6 and line.startswith(' = ') and line.endswith(' = ')
          and not line.startswith(' = = '))


def wikitext_articles(lines: Iterable[str]) -> Iterator[str]:
  """Groups the lines of a wiki.*.raw file into articles, keeping every character.

  An article runs from its ' = Title = ' line to the next one; lines before the
  first title belong to the first article. ''.join(articles) == ''.join(lines).
  """
  article: list[str] = []
  has_title = False
  for line in lines:
    if _is_article_title(line):
      if has_title:
        yield ''.join(article)
        article = []
      has_title = True
    article.append(line)
  if article:
    yield ''.join(article)


def _dir_sha256(path: str) -> str:
  digest = hashlib.sha256()
  for name in sorted(WIKITEXT_FILES.values()):
    member = _find_in_dir(path, name)
    digest.update(f'{name}\0{os.path.getsize(member)}\0'.encode())
    digest.update(char_datasets.file_sha256(member).encode())
  return digest.hexdigest()


def _local_sha256(path: str) -> str:
  """sha256 of a file, or of the three wiki.*.raw files of a directory.

  Memoised by `landauerjax.datasets.local_sha256` (absolute path, mtime_ns,
  size), the one memo of both models' data hashes.
  """
  digest_fn = _dir_sha256 if os.path.isdir(path) else char_datasets.file_sha256
  return char_datasets.local_sha256(path, digest_fn)


def _find_in_dir(path: str, name: str) -> str:
  """`path/name` or `path/<one subdirectory>/name` (an extracted archive)."""
  candidates = [os.path.join(path, name)]
  with os.scandir(path) as entries:
    candidates += sorted(os.path.join(e.path, name) for e in entries if e.is_dir())
  for candidate in candidates:
    if os.path.isfile(candidate):
      return candidate
  raise DataNotFoundError(f'WikiText file {name!r} not found in directory {path!r} '
                          'or its subdirectories; local_path must be the raw zip or the '
                          'directory it was extracted to.')


def _check_wikitext_copy(path: str) -> None:
  """Raises unless `path` is a zip or directory holding the three wiki.*.raw files."""
  if not os.path.exists(path):
    raise DataNotFoundError(f'WikiText data not found: {path!r}; local_path must be the '
                            'raw zip or the directory it was extracted to.')
  if os.path.isdir(path):
    for name in WIKITEXT_FILES.values():
      _find_in_dir(path, name)
    return
  if not zipfile.is_zipfile(path):
    raise DataError(f'{path!r} is neither a WikiText zip archive nor a directory; '
                    'local_path must be the raw zip or the directory it was extracted to.')
  with zipfile.ZipFile(path) as archive:
    names = [os.path.basename(m) for m in archive.namelist()]
  for name in WIKITEXT_FILES.values():
    if names.count(name) != 1:
      error = DataNotFoundError if name not in names else DataError
      raise error(f'WikiText archive {path!r} holds {names.count(name)} files named '
                  f'{name!r}; expected exactly one (use the official raw archive).')


@contextlib.contextmanager
def _open_wikitext_file(path: str, name: str) -> Iterator[IO[str]]:
  """Opens wiki.*.raw inside a zip archive or an extracted directory, as text."""
  path = os.fspath(path)
  if os.path.isdir(path):
    with open(_find_in_dir(path, name), encoding='utf-8', newline='') as f:
      yield f
    return
  if not zipfile.is_zipfile(path):
    raise DataError(f'{path!r} is neither a WikiText zip archive nor a directory; '
                    'local_path must be the raw zip or the directory it was extracted to.')
  with zipfile.ZipFile(path) as archive:
    members = [m for m in archive.namelist() if os.path.basename(m) == name]
    if len(members) != 1:
      error = DataNotFoundError if not members else DataError
      raise error(f'WikiText archive {path!r} holds {len(members)} files named '
                  f'{name!r}; expected exactly one (use the official raw archive).')
    with archive.open(members[0]) as raw:
      # newline='': no newline translation, the text comes back byte for byte.
      yield io.TextIOWrapper(raw, encoding='utf-8', newline='')


class _WikitextRaw(tfds.core.GeneratorBasedBuilder):
  """WikiText raw v1, one example per article; see the module docstring."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'One example per article, in file order.'}
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(
      name='raw_v1', description='The official archive (downloaded, or the same local copy).')]
  DATASET: str = ''  # Key of WIKITEXT_URLS.

  def __init__(self, *, local_path: str | None = None, **kwargs: Any):
    """`local_path`: the raw zip or an extracted directory ('' / None downloads).

    A local copy identical to the official zip prepares the 'raw_v1' config,
    like a download; any other content gets its own config, named by its hash,
    so a modified or fake copy never shares prepared files with the real one.
    """
    self._local_path = local_path or None
    if self._local_path is not None:
      _check_wikitext_copy(self._local_path)
      digest = _local_sha256(self._local_path)
      if digest == WIKITEXT_SHA256[self.DATASET]:
        kwargs.setdefault('config', 'raw_v1')
      else:
        kwargs.setdefault('config', tfds.core.BuilderConfig(
            name='local_sha256_' + digest[:16],
            description=f'Prepared from {self._local_path}'))
    # array_record is the format that reads and writes without TensorFlow.
    kwargs.setdefault('file_format', 'array_record')
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({'text': tfds.features.Text()}),
        supervised_keys=None,
        # Articles stay in file order: a split is one continuous text.
        disable_shuffling=True,
        homepage=('https://blog.salesforceairesearch.com/'
                  'the-wikitext-long-term-dependency-language-modeling-dataset/'),
        citation="""@article{merity2016pointer,
  title={Pointer Sentinel Mixture Models},
  author={Merity, Stephen and Xiong, Caiming and Bradbury, James and Socher, Richard},
  journal={arXiv preprint arXiv:1609.07843},
  year={2016}}""",
    )

  def _split_generators(self, dl_manager):
    if self._local_path is None:
      # Checked against fieldjax/checksums.tsv (see WIKITEXT_SHA256).
      path = os.fspath(dl_manager.download(WIKITEXT_URLS[self.DATASET]))
    else:
      path = self._local_path
    return {split: self._generate_examples(path, name)
            for split, name in WIKITEXT_FILES.items()}

  def _generate_examples(self, path: str, name: str):
    with _open_wikitext_file(path, name) as f:
      for i, article in enumerate(wikitext_articles(f)):
        yield i, {'text': article}


class Wikitext2Raw(_WikitextRaw):
  """WikiText-2 raw v1 (`wikitext2_raw`): ~2M training words (~11M characters)."""

  DATASET = 'wikitext-2'


class Wikitext103Raw(_WikitextRaw):
  """WikiText-103 raw v1 (`wikitext103_raw`): ~103M training words (~540M characters)."""

  DATASET = 'wikitext-103'


WIKITEXT_BUILDERS = {'wikitext-2': Wikitext2Raw, 'wikitext-103': Wikitext103Raw}


# Reading documents.


def _c4_source(split: str, data_dir: str):
  """The array_record data source of a prepared `c4/en` split; never downloads."""
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


def _records(source: Sequence[Any], start: int) -> Iterator[str]:
  """The 'text' of records start, start+1, ... of a data source, one at a time."""
  for i in range(max(0, start), len(source)):
    yield _as_str(source[i]['text'])


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
      earlier ones, except for the single-document tiny_shakespeare / local_text).
  """
  _check_split(dataset, split)
  _check_local_path(dataset, local_path)
  if dataset in TEXT_FILE_DATASETS:
    text = char_datasets.load_text_splits(dataset, local_path=local_path,
                                          data_dir=data_dir)[split]
    return iter([text][start:])
  if dataset == 'c4':
    return _records(_c4_source(split, data_dir), start)
  builder_cls = WIKITEXT_BUILDERS[dataset]
  source = tfds.data_source(builder_cls.name, split=split, data_dir=data_dir or None,
                            builder_kwargs={'local_path': local_path or None})
  return _records(source, start)


def text_source(dataset: str, split: str, *, local_path: str = '',
                data_dir: str = '') -> Callable[[int], Iterator[str]]:
  """`start -> text_stream(..., start=start)`: the form `token_batches` resumes in O(1)."""
  _check_split(dataset, split)
  return functools.partial(_text_stream_from, dataset, split, local_path, data_dir)


def _text_stream_from(dataset: str, split: str, local_path: str, data_dir: str,
                      start: int) -> Iterator[str]:
  return text_stream(dataset, split, local_path=local_path, data_dir=data_dir, start=start)


# Tokens.


def document_tokens(text: str, tokenizer: tokenizers_lib.Tokenizer, *,
                    add_eos: bool = True) -> np.ndarray:
  """int32[N] of one document, followed by the tokenizer's eos_id (if any, and add_eos)."""
  ids = np.asarray(tokenizer.encode(text), dtype=np.int32).reshape(-1)
  eos = tokenizer.eos_id if add_eos else None
  if eos is not None:
    ids = np.concatenate([ids, np.asarray([eos], np.int32)])
  return ids


def encode_documents(texts: Iterable[str], tokenizer: tokenizers_lib.Tokenizer, *,
                     add_eos: bool = True) -> np.ndarray:
  """All documents as one int32[N] stream, the same stream `token_batches` packs."""
  parts = [document_tokens(t, tokenizer, add_eos=add_eos) for t in texts]
  return np.concatenate(parts) if parts else np.zeros([0], np.int32)


@dataclasses.dataclass(frozen=True)
class PackerState:
  """Where a `token_batches` stream stands: the position of its next token.

  epoch: passes over the documents completed (repeat=True only).
  documents: index (in the epoch) of the document holding the next token.
  offset: index of that token within the document's tokens (eos included).
  batches: batches yielded so far (for bookkeeping; does not steer reading).
  """

  epoch: int = 0
  documents: int = 0
  offset: int = 0
  batches: int = 0

  def to_json(self) -> dict[str, int]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, obj: dict[str, Any]) -> 'PackerState':
    return cls(**{f.name: int(obj[f.name]) for f in dataclasses.fields(cls)})


def _documents_from(texts: Iterable[str] | Callable[[int], Iterable[str]],
                    state: PackerState, repeat: bool) -> Iterator[tuple[int, int, str]]:
  """(epoch, index, document) from the state's document on."""
  if not callable(texts):
    for i, doc in enumerate(itertools.islice(texts, state.documents, None),
                            start=state.documents):
      yield 0, i, doc
    return
  epoch, first = state.epoch, state.documents
  while True:
    count = 0
    for i, doc in enumerate(texts(first), start=first):
      count += 1
      yield epoch, i, doc
    if not repeat:
      return
    if count == 0 and first == 0:
      raise ValueError('repeat=True over an empty document stream.')
    epoch, first = epoch + 1, 0


def token_batches(texts: Iterable[str] | Callable[[int], Iterable[str]],
                  tokenizer: tokenizers_lib.Tokenizer, batch_size: int, seq_len: int, *,
                  state: PackerState | None = None, repeat: bool = False,
                  add_eos: bool = True) -> Iterator[tuple[np.ndarray, PackerState]]:
  """Packs a stream of documents into token batches: yields (int32[B, T+1], state).

  The documents are tokenized one at a time (`document_tokens`: eos after each
  when the tokenizer has one) into one continuous token stream, which is cut
  into rows of T+1 tokens with stride T, row after row and batch after batch:
  row r of the whole run holds tokens [r*T, r*T + T]. Inputs are `[:, :-1]`,
  next-token targets `[:, 1:]`; every token but the first is a target exactly
  once. Rows cross document boundaries (no padding, nothing wasted). The last
  incomplete batch is dropped (repeat=False), so the stream ends when fewer
  than B*T+1 tokens are left.

  Resuming. Each batch comes with the `PackerState` just after it: the epoch,
  document index and token offset of the next token. Passing that state back
  (e.g. from a checkpoint, via to_json / from_json) continues with exactly the
  batches an uninterrupted run would have yielded. We chose this (document,
  offset) position over "number of batches yielded" because a restart then
  costs O(1): with `texts = text_source(...)` (a callable start -> documents
  from index start) TFDS-backed datasets seek straight to the document, and
  only that one document is re-tokenized; with a plain iterable the earlier
  documents are still iterated, but not tokenized. Counting
  batches would need every skipped document tokenized again (hours on C4).
  The price: the state is only meaningful for the same documents, tokenizer,
  add_eos, B and T (it is not checked against them), and a row layout that is
  contiguous across the batch (not B parallel streams carried over batches).

  Args:
    texts: the documents: an iterable of str, or a callable start -> iterable
      of the documents from index start on (needed for repeat=True).
    tokenizer: any `fieldjax.tokenizers.Tokenizer`.
    batch_size: B >= 1.
    seq_len: T >= 1.
    state: where to start (default: the beginning).
    repeat: start over (epoch + 1) when the documents run out; never ends.
    add_eos: append the tokenizer's eos_id after each document (if it has one).
  """
  if batch_size < 1 or seq_len < 1:
    raise ValueError(f'batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}.')
  state = state or PackerState()
  if not callable(texts) and (repeat or state.epoch):
    raise ValueError('repeat=True (or resuming past epoch 0) needs `texts` as a callable '
                     'start -> documents from index start, e.g. text_source(...).')
  return _token_batches(texts, tokenizer, batch_size, seq_len, state, repeat, add_eos)


def _token_batches(texts: Iterable[str] | Callable[[int], Iterable[str]],
                   tokenizer: tokenizers_lib.Tokenizer, batch_size: int, seq_len: int,
                   state: PackerState, repeat: bool,
                   add_eos: bool) -> Iterator[tuple[np.ndarray, PackerState]]:
  """The generator behind `token_batches` (arguments checked)."""
  step = batch_size * seq_len  # Tokens consumed per batch.
  need = step + 1  # Tokens spanned by a batch (its last token starts the next one).

  # Pending pieces [epoch, document index, offset of the piece's first token, tokens].
  pending: collections.deque[list[Any]] = collections.deque()
  available = 0
  batches = state.batches
  first_document = True
  epoch_tokens: collections.Counter[int] = collections.Counter()

  for epoch, index, doc in _documents_from(texts, state, repeat):
    if epoch > state.epoch and index == 0:
      previous = epoch - 1  # Seen whole (from document 0) unless it is the resumed epoch.
      if epoch_tokens[previous] == 0 and (previous > state.epoch or state.documents == 0):
        raise ValueError('repeat=True over documents that hold no tokens.')
    tokens = document_tokens(_as_str(doc), tokenizer, add_eos=add_eos)
    epoch_tokens[epoch] += len(tokens)
    offset = 0
    if first_document:
      first_document = False
      if (epoch, index) == (state.epoch, state.documents) and state.offset:
        if state.offset > len(tokens):
          raise ValueError(
              f'Packer state {state} points past the end of document {index} '
              f'({len(tokens)} tokens): the state belongs to other data or another tokenizer.')
        offset = state.offset
        tokens = tokens[offset:]
    if not len(tokens):
      continue
    pending.append([epoch, index, offset, tokens])
    available += len(tokens)
    while available >= need:
      flat = np.concatenate([p[3] for p in _take_pieces(pending, need)])[:need]
      batch = np.lib.stride_tricks.sliding_window_view(flat, seq_len + 1)[::seq_len]
      _consume(pending, step)
      available -= step
      batches += 1
      head = pending[0]  # Never empty: the batch's last token is still pending.
      yield (np.ascontiguousarray(batch, dtype=np.int32),
             PackerState(epoch=head[0], documents=head[1], offset=head[2], batches=batches))


def _take_pieces(pending: collections.deque[list[Any]], n: int) -> list[list[Any]]:
  """The fewest leading pieces that hold n tokens."""
  pieces, total = [], 0
  for piece in pending:
    pieces.append(piece)
    total += len(piece[3])
    if total >= n:
      break
  return pieces


def _consume(pending: collections.deque[list[Any]], n: int) -> None:
  """Drops the first n pending tokens."""
  while n:
    piece = pending[0]
    if len(piece[3]) <= n:
      n -= len(piece[3])
      pending.popleft()
    else:
      piece[2] += n
      piece[3] = piece[3][n:]
      n = 0


# Tokenizers and whole corpora.


def _train_data_id(dataset: str, local_path: str) -> str:
  """Names the training split for the tokenizer cache, content-hashed when local."""
  if dataset == 'c4':
    return 'c4-en-train'
  if not local_path:
    return f'{dataset}-train'
  return f'{dataset}-local_sha256_{_local_sha256(local_path)[:16]}-train'


def dataset_tokenizer(dataset: str, kind: str, *, local_path: str = '', data_dir: str = '',
                      vocab_size: int = tokenizers_lib.DEFAULT_VOCAB_SIZE,
                      cache_dir: str = '', model_type: str = 'bpe',
                      max_train_chars: int = tokenizers_lib.DEFAULT_MAX_TRAIN_CHARS,
                      ) -> tokenizers_lib.Tokenizer:
  """A tokenizer of `kind` for a dataset, built from its documents, streamed.

  SentencePiece trains on the 'train' split only, reads at most
  `max_train_chars` characters of it and is cached in `cache_dir` under the
  dataset's name. 'char' takes every character of the `CHAR_VOCAB_SPLITS`
  ('train' and 'validation', as `load_token_splits` and the Landauer LM do), so
  a character that occurs only in the validation text does not stop training.
  It streams both splits whole: cheap for wikitext-103 (validation ~1.1M
  characters against ~540M of train), meant for small corpora in general (on
  c4 it would read all of c4/en). A character outside these splits (e.g. only
  in wikitext's 'test') still makes `encode` raise, naming it; use 'byte' or
  'sentencepiece' (byte fallback) for open-ended text.
  """
  _check_dataset(dataset)
  _check_tokenizer_kind(kind)
  _check_local_path(dataset, local_path)
  if kind == 'char':
    sources = [text_source(dataset, split, local_path=local_path, data_dir=data_dir)
               for split in CHAR_VOCAB_SPLITS]
    texts = lambda: itertools.chain.from_iterable(source(0) for source in sources)
  else:
    source = text_source(dataset, 'train', local_path=local_path, data_dir=data_dir)
    texts = lambda: source(0)
  data_id = _train_data_id(dataset, local_path) if kind == 'sentencepiece' else ''
  return tokenizers_lib.make_tokenizer(
      kind, texts, vocab_size=vocab_size, cache_dir=cache_dir, data_id=data_id,
      model_type=model_type, max_train_chars=max_train_chars)


def load_token_splits(dataset: str, tokenizer_kind: str, *, local_path: str = '',
                      data_dir: str = '',
                      vocab_size: int = tokenizers_lib.DEFAULT_VOCAB_SIZE,
                      cache_dir: str = '', model_type: str = 'bpe',
                      tokenizer: tokenizers_lib.Tokenizer | None = None,
                      splits: Sequence[str] = ('train', 'validation'), add_eos: bool = True,
                      ) -> tuple[tokenizers_lib.Tokenizer, dict[str, np.ndarray]]:
  """A small corpus as whole token arrays: (tokenizer, {split: int32[N_split]}).

  For `IN_MEMORY_DATASETS` only; wikitext-103 and c4 raise, pointing to
  `text_stream` / `token_batches`. Each split is `encode_documents` of its
  documents (the stream `token_batches` would pack).

  Args:
    dataset: 'tiny_shakespeare', 'local_text' or 'wikitext-2'.
    tokenizer_kind: 'char' (the characters of `CHAR_VOCAB_SPLITS`, train and
      validation, like the Landauer LM), 'byte' or 'sentencepiece' (trained on
      the train split); ignored when `tokenizer` is given (e.g. one from a
      checkpoint).
    local_path, data_dir: as in `text_stream`.
    vocab_size, cache_dir, model_type: SentencePiece options; the cache key
      includes the sha256 of the train text.
    tokenizer: use this tokenizer instead of building one.
    splits: the splits to return.
    add_eos: see `document_tokens`.
  """
  _check_dataset(dataset)
  if dataset not in IN_MEMORY_DATASETS:
    raise ConfigError(
        f'Dataset {dataset!r} is too large to hold in memory as token arrays '
        f'(load_token_splits takes {list(IN_MEMORY_DATASETS)}). Stream it instead: '
        f"token_batches(text_source({dataset!r}, 'train', ...), tokenizer, batch_size, "
        f"seq_len), with tokenizer = dataset_tokenizer({dataset!r}, kind, ...).")
  for split in splits:
    _check_split(dataset, split)
  if tokenizer is None:
    _check_tokenizer_kind(tokenizer_kind)
  _check_local_path(dataset, local_path)

  char_vocab = tokenizer is None and tokenizer_kind == 'char'
  needed = set(splits) | {'train'} | (set(CHAR_VOCAB_SPLITS) if char_vocab else set())
  docs = {split: list(text_stream(dataset, split, local_path=local_path, data_dir=data_dir))
          for split in sorted(needed)}
  if char_vocab:
    tokenizer = tokenizers_lib.make_tokenizer(
        'char', [doc for split in CHAR_VOCAB_SPLITS for doc in docs[split]])
  elif tokenizer is None:
    digest = hashlib.sha256()
    for doc in docs['train']:
      digest.update(doc.encode('utf-8'))
      digest.update(b'\0')
    tokenizer = tokenizers_lib.make_tokenizer(
        tokenizer_kind, docs['train'], vocab_size=vocab_size, cache_dir=cache_dir,
        data_id=f'{dataset}-train-sha256_{digest.hexdigest()[:16]}', model_type=model_type)
  return tokenizer, {split: encode_documents(docs[split], tokenizer, add_eos=add_eos)
                     for split in splits}
