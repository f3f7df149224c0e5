"""Tests of landauerjax.input_pipeline: the character corpus and its fingerprint."""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np
import pytest

from landauerjax import input_pipeline
from landauerjax.core import errors


def _config(dataset: str, local_path: str, data_dir: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
      {'dataset': dataset, 'local_path': local_path, 'data_dir': data_dir})


def test_load_corpus_vocab(shakespeare_splits, shakespeare_path, data_dir):
  del shakespeare_splits  # Prepared already: load_corpus only reads.
  config = ml_collections.ConfigDict({'dataset': 'tiny_shakespeare',
                                      'local_path': shakespeare_path,
                                      'data_dir': data_dir})
  corpus = input_pipeline.load_corpus(config)
  assert corpus.vocab.size == 65
  assert corpus.vocab.chars == ''.join(sorted(corpus.vocab.chars))
  assert corpus.train.shape == (1_003_854,) and corpus.train.dtype == np.int32
  assert corpus.validation.shape == (111_540,)
  assert corpus.vocab.decode(corpus.train[:14]) == 'First Citizen:'


def test_load_corpus_with_a_given_vocabulary(small_corpus_path, data_dir):
  corpus = input_pipeline.load_corpus(_config('local_text', small_corpus_path, data_dir))
  again = input_pipeline.load_corpus(_config('local_text', small_corpus_path, data_dir),
                                     vocab=corpus.vocab)
  np.testing.assert_array_equal(again.train, corpus.train)
  np.testing.assert_array_equal(again.validation, corpus.validation)
  # A checkpoint's vocabulary that lacks characters of the corpus: another corpus.
  narrow = input_pipeline.CharVocab.from_texts(corpus.vocab.chars.replace('w', ''))
  with pytest.raises(errors.DataError, match=r"characters the checkpoint's vocabulary "
                                             r"lacks \('w'\).*not the corpus"):
    input_pipeline.load_corpus(_config('local_text', small_corpus_path, data_dir), vocab=narrow)


def test_fingerprint_covers_both_splits_and_the_vocabulary(small_corpus_path, data_dir):
  corpus = input_pipeline.load_corpus(_config('local_text', small_corpus_path, data_dir))
  fingerprint = input_pipeline.fingerprint(corpus)
  assert fingerprint == input_pipeline.fingerprint(dataclasses.replace(
      corpus, train=corpus.train.copy()))
  for changed in (dataclasses.replace(corpus, train=corpus.train[::-1].copy()),
                  dataclasses.replace(corpus, validation=corpus.validation[1:]),
                  dataclasses.replace(corpus, vocab=input_pipeline.CharVocab.from_texts(
                      corpus.vocab.chars + '#'))):
    assert input_pipeline.fingerprint(changed) != fingerprint
