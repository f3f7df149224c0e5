"""Streamed token batches on grain: documents -> tokens -> packed rows -> batches, resumable.

For corpora too large to hold as token arrays (wikitext-103, c4): a grain
pipeline over a random-access source of documents
(`landauerjax.core.text_sources.data_source`, TFDS array_record files):

  documents (this process's share: every shard_count-th, from shard_index)
    -> repeated epoch after epoch, in order
    -> tokens of each document, then its eos (grain map, in `read_threads` threads)
    -> concatenated and cut into rows of T+1 tokens (grain's ConcatThenSplit)
    -> batches int32 [B, T+1] (inputs [:, :-1], next-token targets [:, 1:]).

Rows cross document boundaries (no padding, nothing wasted); each row's first
token is an input only. Tokens keep their order, except that grain passes a
document whose tokens fill exactly one row straight through, possibly ahead of
the row being assembled. The iterator's state (`get_state()`, a small JSON-able
dict: the next document and the cut inside the pending one) is saved with every
checkpoint, so a resumed run reads on with exactly the batches an uninterrupted
one would, re-reading one document at most.

Shapes: B batch, T sequence length, N tokens. Imports no model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TYPE_CHECKING

import numpy as np

from landauerjax.core import errors
from landauerjax.core import text_sources
from landauerjax.core import tokenizers

if TYPE_CHECKING:  # grain is imported where it streams: encoding documents needs none of it.
  import grain


def document_tokens(text: str, tokenizer: tokenizers.Tokenizer, *,
                    add_eos: bool = True) -> np.ndarray:
  """int32[N] of one document, followed by the tokenizer's eos_id (if any, and add_eos)."""
  ids = np.asarray(tokenizer.encode(text), dtype=np.int32).reshape(-1)
  eos = tokenizer.eos_id if add_eos else None
  if eos is not None:
    ids = np.concatenate([ids, np.asarray([eos], np.int32)])
  return ids


def encode_documents(texts: Iterable[str], tokenizer: tokenizers.Tokenizer, *,
                     add_eos: bool = True) -> np.ndarray:
  """All documents as one int32[N] stream (each followed by eos, where the tokenizer has one)."""
  parts = [document_tokens(t, tokenizer, add_eos=add_eos) for t in texts]
  return np.concatenate(parts) if parts else np.zeros([0], np.int32)


def token_batches(source: Sequence[Any], tokenizer: tokenizers.Tokenizer, batch_size: int,
                  seq_len: int, *, shard_index: int = 0, shard_count: int = 1,
                  add_eos: bool = True, read_threads: int = 2,
                  prefetch: int = 64) -> grain.IterDataset:
  """The endless grain dataset of int32 [B, T+1] batches of `source`'s documents.

  Args:
    source: random-access records {'text': str or bytes} (len and [i]).
    tokenizer: any `landauerjax.core.tokenizers.Tokenizer`.
    batch_size, seq_len: B rows of T+1 tokens per batch (this process's rows).
    shard_index, shard_count: this process reads documents shard_index,
      shard_index + shard_count, ... (e.g. jax.process_index(), jax.process_count()).
    add_eos: each document ends with the tokenizer's eos_id (if it has one).
    read_threads, prefetch: grain's threads and buffer for reading and tokenizing.

  Iterate with `iter(...)`; `iterator.get_state()` / `set_state(state)` save
  and restore the position (see the module docstring).
  """
  if batch_size < 1 or seq_len < 1:
    raise errors.ConfigError(f'batch_size and seq_len must be >= 1, got {batch_size}, '
                             f'{seq_len}.')
  if not 0 <= shard_index < shard_count:
    raise errors.ConfigError(f'shard_index must be in [0, {shard_count}), got {shard_index}.')
  import grain  # pylint: disable=g-import-not-at-top,redefined-outer-name
  import grain.experimental as grain_experimental  # pylint: disable=g-import-not-at-top
  documents = grain.MapDataset.source(source)[shard_index::shard_count]
  if len(documents) == 0:
    raise errors.DataError(f'No documents to stream (shard {shard_index} of {shard_count} '
                           f'of {len(source)} documents).')
  tokens = documents.repeat(None).map(
      lambda record: {'tokens': document_tokens(text_sources.as_str(record['text']),
                                                tokenizer, add_eos=add_eos)})
  rows = grain_experimental.ConcatThenSplitIterDataset(
      tokens.to_iter_dataset(grain.ReadOptions(num_threads=read_threads,
                                               prefetch_buffer_size=prefetch)),
      length_struct={'tokens': seq_len + 1})
  return rows.map(lambda row: row['tokens'].astype(np.int32)).batch(batch_size,
                                                                    drop_remainder=True)


def batches_with_state(dataset: grain.IterDataset, state: dict[str, Any] | None = None
                       ) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
  """Yields (batch, the iterator's state just after it), from `state` (None: the start)."""
  iterator = iter(dataset)
  if state:
    iterator.set_state(state)
  while True:
    batch = next(iterator)
    yield np.asarray(batch, np.int32), iterator.get_state()


def tokens_per_sec(batches: Iterator[tuple[np.ndarray, dict[str, Any]]], num_batches: int,
                   *, warmup: int = 5) -> float:
  """Warm rate of `batches_with_state`'s batches as a trainer pulls them: target tokens
  (B x T of each [B, T + 1] batch) per second, over `num_batches` batches pulled after
  `warmup` untimed ones."""
  for _ in range(warmup):
    next(batches)
  tokens, t0 = 0, time.perf_counter()
  for _ in range(num_batches):
    batch, _ = next(batches)
    tokens += batch.shape[0] * (batch.shape[1] - 1)
  return tokens / (time.perf_counter() - t0)
