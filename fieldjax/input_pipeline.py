"""From `config.data` to what `fieldjax.train.train` reads: a tokenizer and token data.

Texts come from `landauerjax.core.text_sources` (tiny_shakespeare, local_text,
wikitext-2/103, c4), tokenizers from `landauerjax.core.tokenizers`. Small
corpora (`text_sources.IN_MEMORY_DATASETS`) are held as whole token arrays
(`load_token_splits`); the others (wikitext-103, c4) stream their training
split through grain (`landauerjax.core.streams`), with every process's
pipeline position saved in every checkpoint, and evaluate on the first tokens
of their validation split.

Shapes: N tokens, B batch, T sequence length.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
from collections.abc import Sequence
from typing import Any, Iterator

import jax
import numpy as np

from landauerjax.core import errors
from landauerjax.core import streams
from landauerjax.core import text_files
from landauerjax.core import text_sources
from landauerjax.core import tokenizers
from landauerjax.core import workdir as workdir_lib

# Validation tokens of a streamed dataset, unless config.eval.max_tokens says otherwise.
STREAM_EVAL_TOKENS = 1_000_000


def tokenizer_kind(data_config: Any) -> str:
  """config.data.tokenizer, or by default 'char' for the character corpora and
  'sentencepiece' for the rest."""
  if data_config.tokenizer:
    if data_config.tokenizer not in tokenizers.KINDS:
      raise errors.ConfigError(f'Unknown config.data.tokenizer {data_config.tokenizer!r}; '
                               f'expected one of {list(tokenizers.KINDS)}.')
    return data_config.tokenizer
  return 'char' if data_config.dataset in text_sources.TEXT_FILE_DATASETS else 'sentencepiece'


def _check_tokenizer_kind(kind: str) -> None:
  if kind not in tokenizers.KINDS:
    raise errors.ConfigError(f'Unknown tokenizer kind {kind!r}; expected one of '
                             f'{list(tokenizers.KINDS)}.')


def _train_data_id(dataset: str, local_path: str) -> str:
  """Names the training split for the tokenizer cache, content-hashed when local."""
  if dataset == 'c4':
    return 'c4-en-train'
  if not local_path:
    return f'{dataset}-train'
  return f'{dataset}-local_sha256_{text_files.content_sha256(local_path)[:16]}-train'


def dataset_tokenizer(dataset: str, kind: str, *, local_path: str = '', data_dir: str = '',
                      vocab_size: int = tokenizers.DEFAULT_VOCAB_SIZE,
                      cache_dir: str = '', model_type: str = 'bpe',
                      max_train_chars: int = tokenizers.DEFAULT_MAX_TRAIN_CHARS,
                      ) -> tokenizers.Tokenizer:
  """A tokenizer of `kind` for a dataset, built from its documents, streamed.

  SentencePiece trains on the 'train' split only, reads at most
  `max_train_chars` characters of it and is cached in `cache_dir` under the
  dataset's name. 'char' takes every character of the `text_sources.CHAR_VOCAB_SPLITS`
  ('train' and 'validation', as `load_token_splits` and the Landauer LM do), so
  a character that occurs only in the validation text does not stop training.
  It streams both splits whole: cheap for wikitext-103 (validation ~1.1M
  characters against ~540M of train), meant for small corpora in general (on
  c4 it would read all of c4/en). A character outside these splits (e.g. only
  in wikitext's 'test') still makes `encode` raise, naming it; use 'byte' or
  'sentencepiece' (byte fallback) for open-ended text.
  """
  text_sources.check_dataset(dataset)
  _check_tokenizer_kind(kind)
  text_sources.check_local_path(dataset, local_path)
  splits = text_sources.CHAR_VOCAB_SPLITS if kind == 'char' else ('train',)
  texts = lambda: itertools.chain.from_iterable(  # Streamed: read as the tokenizer consumes.
      text_sources.text_stream(dataset, split, local_path=local_path, data_dir=data_dir)
      for split in splits)
  data_id = _train_data_id(dataset, local_path) if kind == 'sentencepiece' else ''
  return tokenizers.make_tokenizer(
      kind, texts, vocab_size=vocab_size, cache_dir=cache_dir, data_id=data_id,
      model_type=model_type, max_train_chars=max_train_chars)


def load_token_splits(dataset: str, tokenizer_kind: str, *, local_path: str = '',
                      data_dir: str = '',
                      vocab_size: int = tokenizers.DEFAULT_VOCAB_SIZE,
                      cache_dir: str = '', model_type: str = 'bpe',
                      tokenizer: tokenizers.Tokenizer | None = None,
                      splits: Sequence[str] = ('train', 'validation'), add_eos: bool = True,
                      ) -> tuple[tokenizers.Tokenizer, dict[str, np.ndarray]]:
  """A small corpus as whole token arrays: (tokenizer, {split: int32[N_split]}).

  For `IN_MEMORY_DATASETS` only; wikitext-103 and c4 raise, pointing to
  `text_stream` / `token_batches`. Each split is `encode_documents` of its
  documents (the stream `token_batches` would pack).

  Args:
    dataset: 'tiny_shakespeare', 'local_text' or 'wikitext-2'.
    tokenizer_kind: 'char' (the characters of `text_sources.CHAR_VOCAB_SPLITS`, train and
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
  text_sources.check_dataset(dataset)
  if dataset not in text_sources.IN_MEMORY_DATASETS:
    raise errors.ConfigError(
        f'Dataset {dataset!r} is too large to hold in memory as token arrays '
        f'(load_token_splits takes {list(text_sources.IN_MEMORY_DATASETS)}). Stream it instead: '
        f"landauerjax.core.streams.token_batches(text_sources.data_source({dataset!r}, "
        f"'train', ...), tokenizer, batch_size, seq_len), with tokenizer = "
        f"dataset_tokenizer({dataset!r}, kind, ...).")
  for split in splits:
    text_sources.check_split(dataset, split)
  if tokenizer is None:
    _check_tokenizer_kind(tokenizer_kind)
  text_sources.check_local_path(dataset, local_path)

  char_vocab = tokenizer is None and tokenizer_kind == 'char'
  needed = set(splits) | {'train'} | (set(text_sources.CHAR_VOCAB_SPLITS) if char_vocab else set())
  docs = {split: list(text_sources.text_stream(dataset, split, local_path=local_path, data_dir=data_dir))
          for split in sorted(needed)}
  if char_vocab:
    tokenizer = tokenizers.make_tokenizer(
        'char', [doc for split in text_sources.CHAR_VOCAB_SPLITS for doc in docs[split]])
  elif tokenizer is None:
    digest = hashlib.sha256()
    for doc in docs['train']:
      digest.update(doc.encode('utf-8'))
      digest.update(b'\0')
    tokenizer = tokenizers.make_tokenizer(
        tokenizer_kind, docs['train'], vocab_size=vocab_size, cache_dir=cache_dir,
        data_id=f'{dataset}-train-sha256_{digest.hexdigest()[:16]}', model_type=model_type)
  return tokenizer, {split: streams.encode_documents(docs[split], tokenizer, add_eos=add_eos)
                     for split in splits}


@dataclasses.dataclass
class Data:
  """A tokenizer and its data, as `train` takes them.

  Exactly one of `train_tokens` (int32 [N]) and `train_stream` (state ->
  iterator of (int32 [B, T + 1], state)) is set; `fingerprint` identifies the
  data for resume checks (None: `train` hashes the token arrays).
  """

  tokenizer: tokenizers.Tokenizer
  validation_tokens: np.ndarray
  train_tokens: np.ndarray | None = None
  train_stream: Any = None
  fingerprint: str | None = None

  def train_kwargs(self) -> dict[str, Any]:
    kwargs = {'validation_tokens': self.validation_tokens}
    if self.train_tokens is not None:
      kwargs['train_tokens'] = self.train_tokens
    else:
      kwargs['train_stream'] = self.train_stream
    if self.fingerprint is not None:
      kwargs['data_fingerprint'] = self.fingerprint
    return kwargs


def load(data_config: Any, *, batch_size: int, seq_len: int, eval_max_tokens: int,
         cache_dir: str) -> Data:
  """The tokenizer and token data of `config.data`.

  Args:
    data_config: {dataset, local_path, data_dir, tokenizer, vocab_size}.
    batch_size, seq_len: the training batches (streamed datasets pack them).
    eval_max_tokens: validation tokens of a streamed dataset (0: STREAM_EVAL_TOKENS).
    cache_dir: where a SentencePiece tokenizer is cached (made when needed).
  """
  dataset = data_config.dataset
  if dataset not in text_sources.DATASETS:
    raise errors.ConfigError(f'Unknown config.data.dataset {dataset!r}; expected one of '
                             f'{list(text_sources.DATASETS)}.')
  kind = tokenizer_kind(data_config)
  local_path, data_dir = data_config.local_path, data_config.data_dir
  if dataset in text_sources.IN_MEMORY_DATASETS:
    tokenizer, splits = load_token_splits(
        dataset, kind, local_path=local_path, data_dir=data_dir,
        vocab_size=data_config.vocab_size, cache_dir=cache_dir)
    return Data(tokenizer, validation_tokens=splits['validation'],
                train_tokens=splits['train'])
  tokenizer = dataset_tokenizer(dataset, kind, local_path=local_path,
                                data_dir=data_dir, vocab_size=data_config.vocab_size,
                                cache_dir=cache_dir)
  # Each process streams its own documents into its own rows of the global batch.
  process, processes = jax.process_index(), jax.process_count()
  if batch_size % processes:
    raise errors.ConfigError(f'The batch size ({batch_size}) must be a multiple of the '
                             f'{processes} processes.')
  stream = streams.token_batches(
      text_sources.data_source(dataset, 'train', local_path=local_path, data_dir=data_dir),
      tokenizer, batch_size // processes, seq_len, shard_index=process,
      shard_count=processes)

  def train_stream(state: Any) -> Iterator[tuple[np.ndarray, Any]]:
    return streams.batches_with_state(stream, state)

  limit = eval_max_tokens or STREAM_EVAL_TOKENS
  pieces, count = [], 0
  for doc in text_sources.text_stream(dataset, 'validation', local_path=local_path,
                                  data_dir=data_dir):
    pieces.append(streams.document_tokens(doc, tokenizer))
    count += len(pieces[-1])
    if count > limit:
      break
  validation = np.concatenate(pieces)[:limit + 1].astype(np.int32)
  # A stream is not hashed whole: its source, local copy and tokenizer are.
  local = (text_files.local_sha256(local_path)
           if local_path and os.path.isfile(local_path) else '')
  fingerprint = workdir_lib.data_fingerprint(
      validation, extra={'dataset': dataset, 'tokenizer': tokenizer.to_json(), 'local': local})
  return Data(tokenizer, validation_tokens=validation, train_stream=train_stream,
              fingerprint=fingerprint)
