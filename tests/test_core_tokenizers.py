"""Tests of landauerjax.core.tokenizers: characters, bytes, SentencePiece, their JSON."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import sentencepiece as spm

from conftest import small_corpus
from landauerjax.core import tokenizers


def test_vocab_encode_decode_and_unknown_chars():
  vocab = tokenizers.CharVocab.from_texts('hello', 'world')
  assert vocab.chars == 'dehlorw'
  ids = vocab.encode('hold')
  np.testing.assert_array_equal(ids, [2, 4, 3, 0])
  assert ids.dtype == np.int32
  assert vocab.decode(ids) == 'hold'
  assert tokenizers.CharVocab.from_json(vocab.to_json()) == vocab
  with pytest.raises(ValueError, match="'QZ'"):
    vocab.encode('hQlloZwQrld')


def test_char_tokenizer_unknown_character():
  tokenizer = tokenizers.make_tokenizer('char', ['abc cab'])
  assert tokenizer.vocab_size == 4
  np.testing.assert_array_equal(tokenizer.encode('cab '), [3, 1, 2, 0])
  with pytest.raises(ValueError, match="'z'"):
    tokenizer.encode('abz')


def test_byte_tokenizer_round_trip():
  tokenizer = tokenizers.make_tokenizer('byte', [])
  text = 'Grüße, 東京! 🙂\nnaïve\ttab'
  ids = tokenizer.encode(text)
  assert tokenizer.vocab_size == 256 and ids.dtype == np.int32
  assert len(ids) == len(text.encode('utf-8')) and ids.max() < 256
  assert tokenizer.decode(ids) == text
  assert tokenizer.decode(ids[:-4]) + tokenizer.decode(ids[-4:]) == text
  # A cut multi-byte character decodes to U+FFFD instead of raising.
  assert tokenizer.decode(tokenizer.encode('ü')[:1]) == '\ufffd'
  with pytest.raises(ValueError, match='outside the vocabulary'):
    tokenizer.decode([300])
  assert tokenizers.tokenizer_from_json(tokenizer.to_json()).encode(text).tolist() == ids.tolist()


@pytest.mark.parametrize('model_type,vocab_size', [('bpe', 120), ('unigram', 44)])
def test_sentencepiece_trains_round_trips_and_caches(tmp_path, monkeypatch, model_type,
                                                     vocab_size):
  corpus = small_corpus() + 'Ünïcödé  double  spaces\n\n  indented\n'
  cache = str(tmp_path / 'tokenizer')
  make = lambda texts: tokenizers.make_tokenizer(
      'sentencepiece', texts, vocab_size=vocab_size, model_type=model_type,
      cache_dir=cache, data_id='small')
  tokenizer = make([corpus])
  assert tokenizer.kind == 'sentencepiece' and tokenizer.vocab_size == vocab_size
  assert tokenizer.eos_id == 2
  ids = tokenizer.encode(corpus)
  assert ids.dtype == np.int32 and ids.max() < vocab_size
  assert len(ids) < 0.8 * len(corpus)  # Subwords, not characters.
  assert tokenizer.decode(ids) == corpus  # Lossless: spaces and newlines kept.

  files = os.listdir(cache)
  assert len(files) == 1
  assert files[0].startswith(f'spm-{model_type}-v{vocab_size}-small-')
  mtime = os.stat(os.path.join(cache, files[0])).st_mtime_ns

  def no_training(*args, **kwargs):
    raise AssertionError('retrained although the model is cached')

  monkeypatch.setattr(spm.SentencePieceTrainer, 'train', no_training)
  cached = make(lambda: iter([corpus]))
  assert cached.model_proto == tokenizer.model_proto
  assert os.stat(os.path.join(cache, files[0])).st_mtime_ns == mtime

  # Self-contained JSON (and pickle) give identical encodings.
  restored = tokenizers.tokenizer_from_json(json.dumps(tokenizer.to_json()))
  np.testing.assert_array_equal(restored.encode(corpus), ids)
  np.testing.assert_array_equal(pickle.loads(pickle.dumps(tokenizer)).encode(corpus), ids)


def test_sentencepiece_cache_key_separates_data_and_options(tmp_path):
  cache = str(tmp_path)
  corpus = small_corpus()
  a = tokenizers.make_tokenizer('sentencepiece', iter([corpus]), vocab_size=60, cache_dir=cache)
  b = tokenizers.make_tokenizer('sentencepiece', iter([corpus]), vocab_size=60, cache_dir=cache)
  assert a.model_proto == b.model_proto and len(os.listdir(cache)) == 1  # Keyed by content.
  tokenizers.make_tokenizer('sentencepiece', [corpus.upper()], vocab_size=60, cache_dir=cache)
  tokenizers.make_tokenizer('sentencepiece', [corpus], vocab_size=70, cache_dir=cache)
  tokenizers.make_tokenizer('sentencepiece', [corpus], vocab_size=30, model_type='unigram',
                            cache_dir=cache)
  assert len(os.listdir(cache)) == 4


def test_sentencepiece_vocab_too_large_is_a_clear_error():
  with pytest.raises(ValueError, match='vocab_size=5000'):
    tokenizers.make_tokenizer('sentencepiece', ['tiny text\n'], vocab_size=5000)


def test_tokenizer_bad_kinds():
  with pytest.raises(ValueError, match=r"'wordpiece'.*'char', 'byte', 'sentencepiece'"):
    tokenizers.make_tokenizer('wordpiece', ['x'])
  with pytest.raises(ValueError, match="'wordpiece'"):
    tokenizers.tokenizer_from_json({'kind': 'wordpiece'})
  with pytest.raises(ValueError, match="'bpe2'"):
    tokenizers.make_tokenizer('sentencepiece', ['x'], model_type='bpe2')


