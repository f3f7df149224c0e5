"""landauerjax.core.streams: grain batches of packed documents, exact resume, process shards."""

from __future__ import annotations

import json

import numpy as np
import pytest

from landauerjax.core import errors
from landauerjax.core import streams
from landauerjax.core import tokenizers

DOCS = [{'text': f'document {i}: ' + 'ABCDEFGHIJ'[i % 10] * (3 + 5 * i)} for i in range(9)]
VOCAB = tokenizers.CharVocab.from_texts(*(d['text'] for d in DOCS))


class _EosVocab:
  """VOCAB plus an end-of-document token (id VOCAB.size)."""

  kind, vocab_size, eos_id = 'test', VOCAB.size + 1, VOCAB.size

  def encode(self, text):
    return VOCAB.encode(text)


def _take(dataset, count, state=None):
  return list(zip(*[next(iter_) for iter_ in [streams.batches_with_state(dataset, state)]
                    for _ in range(count)]))


def test_rows_cut_the_document_stream_in_order_epoch_after_epoch():
  dataset = streams.token_batches(DOCS, _EosVocab(), batch_size=3, seq_len=7)
  batches, _ = _take(dataset, 20)
  flat = np.concatenate([b.reshape(-1) for b in batches])
  one_epoch = streams.encode_documents((d['text'] for d in DOCS), _EosVocab())
  assert all(b.shape == (3, 8) and b.dtype == np.int32 for b in batches)
  repeated = np.tile(one_epoch, len(flat) // len(one_epoch) + 2)
  np.testing.assert_array_equal(flat, repeated[:len(flat)])  # Every token once, in order.


def test_a_saved_state_resumes_with_exactly_the_same_batches():
  dataset = streams.token_batches(DOCS, _EosVocab(), batch_size=2, seq_len=5)
  batches, states = _take(dataset, 12)
  saved = json.loads(json.dumps(states[6]))  # As a checkpoint's meta holds it.
  resumed, _ = _take(dataset, 5, saved)
  for a, b in zip(resumed, batches[7:]):
    np.testing.assert_array_equal(a, b)


def test_process_shards_read_disjoint_documents():
  texts = [set() for _ in range(2)]
  for shard in range(2):
    dataset = streams.token_batches(DOCS, VOCAB, batch_size=1, seq_len=4, shard_index=shard,
                                    shard_count=2)
    batches, _ = _take(dataset, 40)
    texts[shard] = set(VOCAB.decode(np.concatenate([b.reshape(-1) for b in batches])))
  # Documents 0, 2, 4, ... hold the letters A, C, E, ...; 1, 3, ... B, D, ...
  assert {'A', 'C', 'E'} <= texts[0] and not {'B', 'D', 'F'} & texts[0]
  assert {'B', 'D', 'F'} <= texts[1] and not {'A', 'C', 'E'} & texts[1]


def test_mistakes():
  with pytest.raises(errors.DataError, match='No documents to stream'):
    streams.token_batches([], VOCAB, batch_size=1, seq_len=4)
  with pytest.raises(errors.ConfigError, match=r'shard_index must be in \[0, 2\)'):
    streams.token_batches(DOCS, VOCAB, batch_size=1, seq_len=4, shard_index=2, shard_count=2)
  with pytest.raises(errors.ConfigError, match='batch_size and seq_len'):
    streams.token_batches(DOCS, VOCAB, batch_size=0, seq_len=4)


def test_document_tokens_end_with_eos_where_the_tokenizer_has_one():
  np.testing.assert_array_equal(streams.document_tokens('AB', _EosVocab()),
                                list(VOCAB.encode('AB')) + [VOCAB.size])
  np.testing.assert_array_equal(streams.document_tokens('AB', VOCAB), VOCAB.encode('AB'))
  assert streams.encode_documents([], VOCAB).shape == (0,)
