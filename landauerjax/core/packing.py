"""A stream of documents packed into token batches, resumable from a small state.

`token_batches` tokenizes documents one at a time into one continuous token
stream and cuts it into int32[B, T+1] batches, yielding with each batch the
`PackerState` (epoch, document, offset) that resumes right after it, in O(1)
for sources that seek (`landauerjax.core.text_sources.text_source`). For
corpora too large to hold as token arrays (wikitext-103, c4).

Shapes: B batch, T sequence length, N tokens. Imports no model.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from landauerjax.core import text_sources
from landauerjax.core import tokenizers


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
                  tokenizer: tokenizers.Tokenizer, batch_size: int, seq_len: int, *,
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
    tokenizer: any `landauerjax.core.tokenizers.Tokenizer`.
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
                   tokenizer: tokenizers.Tokenizer, batch_size: int, seq_len: int,
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
    tokens = document_tokens(text_sources.as_str(doc), tokenizer, add_eos=add_eos)
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
