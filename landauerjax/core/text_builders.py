"""TFDS builders of the text corpora both models read, and checks of local copies.

Every builder writes `array_record` files, which `tfds.data_source` reads with
no TensorFlow installed (`tfds.load` would need it).

* `TinyShakespeareChars` (`tiny_shakespeare_chars`): the canonical 1,115,394
  character file that TFDS uses, split 90% train / 10% validation (TFDS's
  `train` vs `validation+test`), one example per split. On a networked machine
  it downloads the file and checks its sha256 against `checksums.tsv`
  (beside this module); offline, pass the path of a local copy as
  `local_path`, which gets the same checksum check.
* `LocalText` (`local_text`): any UTF-8 text file of the user's, same split.
  Each distinct file content gets its own builder config (named by its hash),
  so two corpora never share prepared files.
* `Wikitext2Raw` / `Wikitext103Raw` (`wikitext2_raw`, `wikitext103_raw`):
  WikiText raw v1, splits 'train', 'validation', 'test'; one example per
  article, in file order, so that the articles of a split concatenated give
  back its wiki.*.raw file exactly. From the official zip (downloaded, or a
  local copy of it or of its extracted directory).

Data mistakes raise `DataError` / `DataNotFoundError` (landauerjax.core.errors),
each a one-line message that names the problem and what to do.
`landauerjax.core.text_sources` reads these datasets (and C4). Imports no model.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, IO

import tensorflow_datasets as tfds

from landauerjax.core.errors import DataError, DataNotFoundError

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
    digest.update(file_sha256(member).encode())
  return digest.hexdigest()


def content_sha256(path: str) -> str:
  """sha256 of a file, or of the three wiki.*.raw files of a directory.

  Memoised by `local_sha256` (absolute path, mtime_ns, size), the one memo of
  both models' data hashes.
  """
  digest_fn = _dir_sha256 if os.path.isdir(path) else file_sha256
  return local_sha256(path, digest_fn)


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


def check_wikitext_copy(path: str) -> None:
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
      check_wikitext_copy(self._local_path)
      digest = content_sha256(self._local_path)
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
      # Checked against checksums.tsv (see WIKITEXT_SHA256).
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

BUILDERS = {
    'tiny_shakespeare': TinyShakespeareChars,
    'local_text': LocalText,
    **WIKITEXT_BUILDERS,
}
