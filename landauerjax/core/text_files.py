"""Local copies of the text corpora: their checks, hashes, splits and reading.

No TFDS here (importing it costs ~0.3 s and pulls in etils, protobuf, ...): the
functions a command needs to check or read a local file, hash a corpus or cut
the canonical 90/10 split. `landauerjax.core.text_builders` holds the TFDS
builders that prepare these corpora; `landauerjax.core.text_sources` reads them.

Data mistakes raise `DataError` / `DataNotFoundError` (landauerjax.core.errors),
each a one-line message that names the problem and what to do. Imports no model.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO

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
def open_wikitext_file(path: str, name: str) -> Iterator[IO[str]]:
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
