"""Tests of fieldjax.input_pipeline: tokenizers of datasets, whole token splits, streamed data."""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np
import pytest

from conftest import wikitext_docs
from fieldjax import input_pipeline as field_input
from landauerjax.core import streams
from landauerjax.core import text_files
from landauerjax.core import tokenizers


def test_char_tokenizer_on_tiny_shakespeare(shakespeare_path, data_dir):
  tokenizer, splits = field_input.load_token_splits(
      'tiny_shakespeare', 'char', local_path=shakespeare_path, data_dir=data_dir)
  assert tokenizer.kind == 'char' and tokenizer.vocab_size == 65
  assert tokenizer.eos_id is None
  assert splits['train'].dtype == np.int32
  assert (splits['train'].shape, splits['validation'].shape) == ((1_003_854,), (111_540,))
  with open(shakespeare_path, encoding='utf-8') as f:
    text = f.read()
  assert tokenizer.decode(splits['train']) + tokenizer.decode(splits['validation']) == text
  again = tokenizers.tokenizer_from_json(json.loads(json.dumps(tokenizer.to_json())))
  np.testing.assert_array_equal(again.encode(text[:5000]), splits['train'][:5000])


def test_load_token_splits_sentencepiece(small_corpus_path, tmp_path):
  cache = str(tmp_path / 'tokenizer')
  kwargs = dict(local_path=small_corpus_path, data_dir=str(tmp_path / 'data'),
                vocab_size=80, cache_dir=cache)
  tokenizer, splits = field_input.load_token_splits('local_text', 'sentencepiece', **kwargs)
  assert set(splits) == {'train', 'validation'} and tokenizer.vocab_size == 80
  text = open(small_corpus_path, encoding='utf-8').read()
  for split, part in text_files.canonical_split(text).items():
    assert splits[split][-1] == tokenizer.eos_id  # One document per split, eos-terminated.
    assert tokenizer.decode(splits[split][:-1]) == part
  again, splits_again = field_input.load_token_splits('local_text', 'sentencepiece', **kwargs)
  assert again.model_proto == tokenizer.model_proto and len(os.listdir(cache)) == 1
  np.testing.assert_array_equal(splits_again['train'], splits['train'])


def test_dataset_tokenizer_streams_the_train_split(wikitext_files, tmp_path):
  cache = str(tmp_path / 'tokenizer')
  kwargs = dict(local_path=wikitext_files['dir'], data_dir=str(tmp_path / 'data'),
                vocab_size=60, cache_dir=cache)
  tokenizer = field_input.dataset_tokenizer('wikitext-2', 'sentencepiece', **kwargs)
  assert isinstance(tokenizer, tokenizers.Tokenizer) and tokenizer.vocab_size == 60
  [name] = os.listdir(cache)
  assert name.startswith('spm-bpe-v60-wikitext-2-local_sha256_')
  assert tokenizer.decode(tokenizer.encode(wikitext_files['train'])) == wikitext_files['train']
  char = field_input.dataset_tokenizer('wikitext-2', 'char', **kwargs)
  assert char.vocab_size == len(set(wikitext_files['train']) | set(wikitext_files['validation']))


def test_load_token_splits_wikitext2(wikitext_files, tmp_path):
  tokenizer, splits = field_input.load_token_splits(
      'wikitext-2', 'byte', local_path=wikitext_files['dir'], data_dir=str(tmp_path),
      splits=('train', 'test'))
  assert set(splits) == {'train', 'test'}
  assert tokenizer.decode(splits['test']) == wikitext_files['test']


def test_load_token_splits_refuses_bad_kinds_and_streamed_datasets():
  with pytest.raises(ValueError, match="'wordpiece'"):
    field_input.load_token_splits('local_text', 'wordpiece', local_path=__file__)
  for dataset in ('wikitext-103', 'c4'):
    with pytest.raises(ValueError, match=f"'{dataset}'.*too large.*token_batches"):
      field_input.load_token_splits(dataset, 'byte')


def _data_config(**kwargs) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({'dataset': 'local_text', 'local_path': '', 'data_dir': '',
                                    'tokenizer': '', 'vocab_size': 64, **kwargs})


def test_tokenizer_kind_defaults_to_char_for_text_files_and_names_bad_kinds():
  assert field_input.tokenizer_kind(_data_config(dataset='tiny_shakespeare')) == 'char'
  assert field_input.tokenizer_kind(_data_config(dataset='local_text')) == 'char'
  assert field_input.tokenizer_kind(_data_config(dataset='wikitext-2')) == 'sentencepiece'
  assert field_input.tokenizer_kind(_data_config(dataset='c4')) == 'sentencepiece'
  assert field_input.tokenizer_kind(_data_config(dataset='c4', tokenizer='byte')) == 'byte'
  with pytest.raises(ValueError, match=r"'bpe'.*'char', 'byte', 'sentencepiece'"):
    field_input.tokenizer_kind(_data_config(tokenizer='bpe'))


def test_load_holds_a_small_corpus_as_token_arrays(small_corpus_path, data_dir):
  config = _data_config(local_path=small_corpus_path, data_dir=data_dir)
  data = field_input.load(config, batch_size=2, seq_len=8, eval_max_tokens=0, cache_dir='')
  tokenizer, splits = field_input.load_token_splits(
      'local_text', 'char', local_path=small_corpus_path, data_dir=data_dir)
  assert data.tokenizer == tokenizer and data.train_stream is None
  np.testing.assert_array_equal(data.train_tokens, splits['train'])
  np.testing.assert_array_equal(data.validation_tokens, splits['validation'])
  assert sorted(data.train_kwargs()) == ['train_tokens', 'validation_tokens']
  with pytest.raises(ValueError, match=r"'wikitext-3'"):
    field_input.load(_data_config(dataset='wikitext-3'), batch_size=2, seq_len=8,
                     eval_max_tokens=0, cache_dir='')


def test_load_streams_a_large_corpus_resumably(wikitext_files, tmp_path):
  config = _data_config(dataset='wikitext-103', local_path=wikitext_files['dir'],
                        data_dir=str(tmp_path / 'data'), tokenizer='byte')
  data = field_input.load(config, batch_size=2, seq_len=8, eval_max_tokens=50,
                          cache_dir=str(tmp_path / 'tokenizer'))
  assert data.train_tokens is None and isinstance(data.tokenizer, tokenizers.ByteTokenizer)
  # The first eval_max_tokens + 1 tokens of the validation documents (inputs and targets).
  validation = streams.encode_documents(wikitext_docs(wikitext_files['validation']),
                                        data.tokenizer)
  np.testing.assert_array_equal(data.validation_tokens, validation[:51])
  kwargs = data.train_kwargs()
  assert sorted(kwargs) == ['data_fingerprint', 'train_stream', 'validation_tokens']
  assert kwargs['data_fingerprint'] == data.fingerprint and data.fingerprint
  # The training split packed into [B, T + 1] batches; a saved state resumes it exactly.
  stream = data.train_stream(None)
  batches = [next(stream) for _ in range(4)]
  train_tokens = streams.encode_documents(wikitext_docs(wikitext_files['train']),
                                          data.tokenizer)
  assert batches[0][0].shape == (2, 9)
  np.testing.assert_array_equal(batches[0][0][0], train_tokens[:9])
  resumed = data.train_stream(json.loads(json.dumps(batches[1][1])))
  for windows, state in batches[2:]:
    again, again_state = next(resumed)
    np.testing.assert_array_equal(again, windows)
    assert again_state == state
  again = field_input.load(config, batch_size=2, seq_len=8, eval_max_tokens=50,
                           cache_dir=str(tmp_path / 'tokenizer'))
  assert again.fingerprint == data.fingerprint
