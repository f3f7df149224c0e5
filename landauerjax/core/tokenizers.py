"""Tokenizers of both models: characters, UTF-8 bytes, or a local SentencePiece model.

Every tokenizer follows the `Tokenizer` protocol: `vocab_size`, `kind`,
`eos_id` (None when the vocabulary has no end-of-document token),
`encode(text) -> int32[N]`, `decode(ids) -> str` and `to_json() -> dict`. The
JSON form is self-contained (a SentencePiece model travels as its serialized
proto, base64), so `tokenizer_from_json(checkpoint_metadata['tokenizer'])`
rebuilds the exact tokenizer with no other file. Imports no model.

Kinds:

* 'char' (`CharVocab`, the Landauer LM's and the field LM's default): the
  sorted set of characters of the texts it is built from; both models pass the
  train AND validation splits (65 characters on Tiny Shakespeare, the same as
  from train alone). Unknown characters make `encode` raise `DataError`,
  naming them.
* 'byte': UTF-8 bytes, vocab_size 256; `decode` replaces invalid sequences.
* 'sentencepiece': BPE or unigram, trained here with the `sentencepiece`
  package on (at most `max_train_chars` characters of) the training split and
  cached as `cache_dir/spm-<model_type>-v<vocab_size>-<data identity>-<options>.model`,
  so a second call with the same arguments loads the model instead of
  retraining. Training settings keep text lossless: no normalisation, no
  whitespace folding, no dummy prefix, '\\n' is its own piece, and (vocabularies
  of `BYTE_FALLBACK_MIN_VOCAB` or more) characters outside the vocabulary fall
  back to UTF-8 byte pieces. Ids: 0 <unk>, 1 <s>, 2 </s> (`eos_id`), 3 '\\n'.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from landauerjax.core.errors import ConfigError, DataError

KINDS = ('char', 'byte', 'sentencepiece')
MODEL_TYPES = ('bpe', 'unigram')
DEFAULT_VOCAB_SIZE = 8192
# Byte fallback spends 256 ids on byte pieces, so it is on only from this size up.
BYTE_FALLBACK_MIN_VOCAB = 512
# SentencePiece sees at most this many characters of the training split (its
# first lines, in order): enough for a subword vocabulary, bounded in memory and
# time however large the corpus (C4) is.
DEFAULT_MAX_TRAIN_CHARS = 100_000_000
TRAIN_THREADS = 8

TrainTexts = Iterable[str] | Callable[[], Iterable[str]]


@runtime_checkable
class Tokenizer(Protocol):
  """What the field LM needs of a tokenizer."""

  @property
  def vocab_size(self) -> int: ...

  @property
  def kind(self) -> str: ...

  @property
  def eos_id(self) -> int | None: ...

  def encode(self, text: str) -> np.ndarray: ...

  def decode(self, ids: Any) -> str: ...

  def to_json(self) -> dict[str, Any]: ...


def _as_ids(ids: Any, vocab_size: int) -> np.ndarray:
  """Any int array-like (any shape) -> flat int64[N], checked against the vocabulary."""
  flat = np.asarray(ids).reshape(-1)
  if flat.size and not np.issubdtype(flat.dtype, np.integer):
    raise ValueError(f'Token ids must be integers, got dtype {flat.dtype}.')
  flat = flat.astype(np.int64)
  bad = flat[(flat < 0) | (flat >= vocab_size)]
  if bad.size:
    raise ValueError(
        f'Token ids {sorted(set(bad.tolist()))[:10]} are outside the vocabulary '
        f'[0, {vocab_size}).')
  return flat


@dataclasses.dataclass(frozen=True)
class CharVocab:
  """One token per character: token id i is `chars[i]` (the sorted characters)."""

  chars: str
  kind = 'char'
  eos_id = None

  def __post_init__(self):
    if not self.chars:
      raise ValueError('A character vocabulary needs at least one character.')

  @classmethod
  def from_texts(cls, *texts: str) -> 'CharVocab':
    """The characters of the given texts."""
    return cls.from_text_stream(texts)

  @classmethod
  def from_text_stream(cls, texts: Iterable[str]) -> 'CharVocab':
    """The characters of an iterable of texts, read one at a time (a large split)."""
    chars: set[str] = set()
    for text in texts:
      chars.update(text)
    return cls(''.join(sorted(chars)))

  @property
  def size(self) -> int:
    return len(self.chars)

  @property
  def vocab_size(self) -> int:
    return len(self.chars)

  def encode(self, text: str) -> np.ndarray:
    """str of N characters -> int32[N]; `DataError` (a ValueError) naming unknown characters."""
    index = {c: i for i, c in enumerate(self.chars)}
    unknown = sorted(set(text) - index.keys())
    if unknown:
      raise DataError(
          f'Characters not in the vocabulary: {"".join(unknown[:20])!r} (vocabulary of '
          f'{self.size}: {self.chars!r}). A character vocabulary knows only the characters '
          "of the text it was built from (a dataset's train and validation splits); use "
          "tokenizer 'byte' or 'sentencepiece' for text with other characters.")
    return np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))

  def decode(self, ids: Any) -> str:
    return ''.join(self.chars[i] for i in _as_ids(ids, self.size))

  def to_json(self) -> dict[str, Any]:
    return {'kind': self.kind, 'chars': self.chars}

  @classmethod
  def from_json(cls, obj: dict[str, Any]) -> 'CharVocab':
    """From `to_json()`, or the {'chars': ...} that Landauer checkpoints hold."""
    return cls(obj['chars'])


class ByteTokenizer:
  """UTF-8 bytes: 256 ids, no training, no unknown input."""

  kind = 'byte'
  eos_id = None
  vocab_size = 256

  def encode(self, text: str) -> np.ndarray:
    """str -> int32[number of UTF-8 bytes]."""
    return np.frombuffer(text.encode('utf-8'), dtype=np.uint8).astype(np.int32)

  def decode(self, ids: Any) -> str:
    """Invalid UTF-8 (e.g. a cut multi-byte character) decodes to U+FFFD."""
    return _as_ids(ids, 256).astype(np.uint8).tobytes().decode('utf-8', errors='replace')

  def to_json(self) -> dict[str, Any]:
    return {'kind': self.kind}

  def __repr__(self) -> str:
    return 'ByteTokenizer()'


class SentencePieceTokenizer:
  """A trained SentencePiece model, held as its serialized proto."""

  kind = 'sentencepiece'

  def __init__(self, model_proto: bytes):
    import sentencepiece as spm  # pylint: disable=g-import-not-at-top
    self.model_proto = bytes(model_proto)
    self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)

  @property
  def vocab_size(self) -> int:
    return int(self._sp.get_piece_size())

  @property
  def eos_id(self) -> int | None:
    eos = int(self._sp.eos_id())
    return eos if eos >= 0 else None

  @property
  def processor(self):
    """The underlying `sentencepiece.SentencePieceProcessor`."""
    return self._sp

  def encode(self, text: str) -> np.ndarray:
    """str -> int32[N] (no <s> / </s> added)."""
    return np.asarray(self._sp.encode(text), dtype=np.int32).reshape(-1)

  def decode(self, ids: Any) -> str:
    return self._sp.decode(_as_ids(ids, self.vocab_size).tolist())

  def to_json(self) -> dict[str, Any]:
    return {'kind': self.kind,
            'vocab_size': self.vocab_size,
            'model_proto_base64': base64.b64encode(self.model_proto).decode('ascii')}

  def __reduce__(self):
    return (SentencePieceTokenizer, (self.model_proto,))

  def __repr__(self) -> str:
    return f'SentencePieceTokenizer(vocab_size={self.vocab_size})'


def tokenizer_from_json(obj: dict[str, Any] | str) -> Tokenizer:
  """Rebuilds a tokenizer from `to_json()` (a dict, or its JSON string)."""
  if isinstance(obj, str):
    obj = json.loads(obj)
  kind = obj.get('kind', 'char' if 'chars' in obj else None)
  if kind == 'char':
    return CharVocab.from_json(obj)
  if kind == 'byte':
    return ByteTokenizer()
  if kind == 'sentencepiece':
    tokenizer = SentencePieceTokenizer(base64.b64decode(obj['model_proto_base64']))
    if 'vocab_size' in obj and obj['vocab_size'] != tokenizer.vocab_size:
      raise ValueError(f'Tokenizer JSON says vocab_size {obj["vocab_size"]} but its '
                       f'model has {tokenizer.vocab_size} pieces.')
    return tokenizer
  raise ValueError(f'Unknown tokenizer kind {kind!r} in JSON; expected one of {list(KINDS)}.')


# SentencePiece training.


def _iter_texts(train_texts: TrainTexts) -> Iterator[str]:
  texts = train_texts() if callable(train_texts) else train_texts
  for text in texts:
    if isinstance(text, bytes):
      text = text.decode('utf-8')
    yield text


def _training_lines(texts: Iterable[str], max_chars: int) -> Iterator[str]:
  """Non-empty lines of the texts, in order, up to `max_chars` characters in all."""
  total = 0
  for text in texts:
    for line in text.split('\n'):
      if not line:
        continue
      if total >= max_chars:
        return
      total += len(line)
      yield line


def _trainer_options(vocab_size: int, model_type: str, byte_fallback: bool,
                     max_train_chars: int) -> dict[str, Any]:
  """The SentencePiece trainer options (all part of the cache key)."""
  return dict(
      vocab_size=vocab_size,
      model_type=model_type,
      # Lossless text: no NFKC, no whitespace folding, no prefix space.
      normalization_rule_name='identity',
      remove_extra_whitespaces=False,
      add_dummy_prefix=False,
      allow_whitespace_only_pieces=True,
      # Training sees single lines, so the newline gets a piece of its own.
      user_defined_symbols=['\n'],
      byte_fallback=byte_fallback,
      # With byte fallback rare characters become bytes; without it every
      # training character must stay in the vocabulary to round-trip.
      character_coverage=0.9995 if byte_fallback else 1.0,
      max_sentence_length=1 << 16,
      input_sentence_size=0,  # All lines we feed (already capped by max_train_chars).
      unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
      # Fixed, not the machine's core count: unigram's result depends on it
      # (and the proto records it), and the model should depend on data and options only.
      num_threads=TRAIN_THREADS,
      # Ours, not SentencePiece's (popped before training).
      max_train_chars=max_train_chars,
  )


def _safe_name(text: str) -> str:
  return re.sub(r'[^A-Za-z0-9._-]+', '_', text).strip('_')[:80]


def sentencepiece_cache_path(cache_dir: str, data_key: str, options: dict[str, Any]) -> str:
  """Where a model of these options trained on data `data_key` is cached."""
  opts = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
  name = (f'spm-{options["model_type"]}-v{options["vocab_size"]}-'
          f'{_safe_name(data_key)}-{opts}.model')
  return os.path.join(cache_dir, name)


def _lines_sha256(lines: Iterable[str]) -> str:
  digest = hashlib.sha256()
  for line in lines:
    digest.update(line.encode('utf-8'))
    digest.update(b'\n')
  return digest.hexdigest()


def _train_sentencepiece_proto(lines: Iterable[str], options: dict[str, Any],
                               data_key: str) -> bytes:
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  kwargs = {k: v for k, v in options.items() if k != 'max_train_chars'}
  fed = 0

  def counted():
    nonlocal fed
    for line in lines:
      fed += 1
      yield line

  model = io.BytesIO()
  try:
    spm.SentencePieceTrainer.train(
        sentence_iterator=counted(), model_writer=model, minloglevel=2, **kwargs)
  except RuntimeError as e:
    if fed == 0:
      raise DataError(
          f'No training text for the SentencePiece tokenizer (data {data_key!r}).') from e
    raise ConfigError(
        f'SentencePiece training failed on data {data_key!r} ({fed} lines) with '
        f'vocab_size={options["vocab_size"]}, model_type={options["model_type"]!r}: '
        f'{e} (a small corpus supports only a small vocabulary).') from e
  return model.getvalue()


def train_sentencepiece(train_texts: TrainTexts, *, vocab_size: int = DEFAULT_VOCAB_SIZE,
                        model_type: str = 'bpe', cache_dir: str = '', data_id: str = '',
                        byte_fallback: bool | None = None,
                        max_train_chars: int = DEFAULT_MAX_TRAIN_CHARS) -> SentencePieceTokenizer:
  """Trains (or loads from `cache_dir`) a SentencePiece tokenizer.

  Args:
    train_texts: documents of the training split, streamed: an iterable, or a
      callable returning a fresh iterable (lets the data be read twice without
      holding it). Only their first `max_train_chars` characters are used.
    vocab_size: number of pieces, exactly (too large for the data -> ValueError).
    model_type: 'bpe' or 'unigram'.
    cache_dir: directory of cached models ('' trains every time, caches nothing).
    data_id: a name that identifies the training data (e.g.
      'wikitext-103-train'). '' identifies the data by the sha256 of the text
      fed to the trainer, which costs a pass over that text; a one-shot iterator
      (not a callable, list or tuple) is then held in memory (capped text only).
    byte_fallback: None: on from `BYTE_FALLBACK_MIN_VOCAB` pieces up.
    max_train_chars: cap on the characters the trainer sees.
  """
  if model_type not in MODEL_TYPES:
    raise ConfigError(f'Unknown SentencePiece model_type {model_type!r}; expected one of '
                     f'{list(MODEL_TYPES)}.')
  if vocab_size < 8:
    raise ConfigError(f'vocab_size={vocab_size} is too small for SentencePiece (>= 8).')
  if byte_fallback is None:
    byte_fallback = vocab_size >= BYTE_FALLBACK_MIN_VOCAB
  options = _trainer_options(vocab_size, model_type, bool(byte_fallback), max_train_chars)
  lines = lambda: _training_lines(_iter_texts(train_texts), max_train_chars)

  held: Sequence[str] | None = None
  if data_id:
    data_key = data_id
  elif cache_dir:
    if not (callable(train_texts) or isinstance(train_texts, (list, tuple))):
      held = list(lines())  # A one-shot iterator: hash and train from the same copy.
    data_key = 'sha256_' + _lines_sha256(held if held is not None else lines())[:16]
  else:
    data_key = 'uncached'

  path = sentencepiece_cache_path(cache_dir, data_key, options) if cache_dir else ''
  if path and os.path.isfile(path):
    with open(path, 'rb') as f:
      return SentencePieceTokenizer(f.read())

  proto = _train_sentencepiece_proto(held if held is not None else lines(), options, data_key)
  if path:
    os.makedirs(cache_dir, exist_ok=True)
    # Atomic: a concurrent reader sees no file or the whole file.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix='.tmp')
    with os.fdopen(fd, 'wb') as f:
      f.write(proto)
    os.replace(tmp, path)
  return SentencePieceTokenizer(proto)


def make_tokenizer(kind: str, train_texts: TrainTexts = (), *,
                   vocab_size: int = DEFAULT_VOCAB_SIZE, cache_dir: str = '',
                   data_id: str = '', model_type: str = 'bpe',
                   byte_fallback: bool | None = None,
                   max_train_chars: int = DEFAULT_MAX_TRAIN_CHARS) -> Tokenizer:
  """Builds a tokenizer of `kind` from the training texts.

  Args:
    kind: 'char', 'byte' or 'sentencepiece'.
    train_texts: the documents to build from (iterable, or a callable
      returning one). 'char' reads them all (both models pass the train and
      validation splits); 'sentencepiece' its first `max_train_chars`
      characters (the field LM passes the train split only); 'byte' ignores them.
    vocab_size, model_type, cache_dir, data_id, byte_fallback, max_train_chars:
      SentencePiece only; see `train_sentencepiece`. 'char' and 'byte' take
      their size from the data / from UTF-8.
  """
  if kind == 'char':
    return CharVocab.from_text_stream(_iter_texts(train_texts))
  if kind == 'byte':
    return ByteTokenizer()
  if kind == 'sentencepiece':
    return train_sentencepiece(
        train_texts, vocab_size=vocab_size, model_type=model_type, cache_dir=cache_dir,
        data_id=data_id, byte_fallback=byte_fallback, max_train_chars=max_train_chars)
  raise ValueError(f'Unknown tokenizer kind {kind!r}; expected one of {list(KINDS)}.')
