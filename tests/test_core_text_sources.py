"""Tests of landauerjax.core.text_sources: whole splits, document streams, dataset checks."""

from __future__ import annotations

import os

import pytest
import tensorflow_datasets as tfds

from conftest import wikitext_docs
from landauerjax.core import text_sources


def test_load_tiny_shakespeare(shakespeare_splits, shakespeare_path):
  with open(shakespeare_path, encoding='utf-8') as f:
    text = f.read()
  assert len(shakespeare_splits['train']) == 1_003_854
  assert len(shakespeare_splits['validation']) == 111_540
  assert shakespeare_splits['train'] + shakespeare_splits['validation'] == text
  assert shakespeare_splits['train'].startswith('First Citizen:')


def test_load_under_mock_data(tmp_path):
  with tfds.testing.mock_data(num_examples=3):
    splits = text_sources.load_text_splits('tiny_shakespeare', data_dir=str(tmp_path))
  for name in ('train', 'validation'):
    text = splits[name]
    assert isinstance(text, str) and text
    # Mocked examples hold no newlines; three of them are joined by two.
    assert len(text.split('\n')) == 3


def test_missing_data_file(tmp_path):
  missing = str(tmp_path / 'nope.txt')
  for dataset in ('tiny_shakespeare', 'local_text'):
    with pytest.raises(FileNotFoundError, match='nope.txt'):
      text_sources.load_text_splits(dataset, local_path=missing, data_dir=str(tmp_path))


def test_local_text_rejects_unusable_files(tmp_path):
  short = tmp_path / 'short.txt'
  short.write_text('abc')
  with pytest.raises(ValueError, match='at least 10'):
    text_sources.load_text_splits('local_text', local_path=str(short), data_dir=str(tmp_path))
  latin1 = tmp_path / 'latin1.txt'
  latin1.write_bytes('caf\xe9 na\xefve, not UTF-8'.encode('latin-1'))
  with pytest.raises(ValueError, match='latin1.txt.*not UTF-8'):
    text_sources.load_text_splits('local_text', local_path=str(latin1), data_dir=str(tmp_path))


def test_local_text_needs_a_path(tmp_path):
  with pytest.raises(ValueError, match='local_path'):
    text_sources.load_text_splits('local_text', data_dir=str(tmp_path))


def test_wrong_file_as_tiny_shakespeare(tmp_path):
  path = tmp_path / 'not_shakespeare.txt'
  path.write_text('This is not the Tiny Shakespeare corpus.\n' * 3)
  with pytest.raises(ValueError, match='sha256'):
    text_sources.load_text_splits('tiny_shakespeare', local_path=str(path),
                                  data_dir=str(tmp_path / 'data'))


def test_unknown_dataset(tmp_path):
  with pytest.raises(ValueError, match='wikitext'):
    text_sources.load_text_splits('wikitext', data_dir=str(tmp_path))


@pytest.mark.parametrize('source', ['zip', 'dir'])
def test_wikitext_local_copy(wikitext_files, tmp_path, source):
  data_dir = str(tmp_path / 'data')
  for split in ('train', 'validation', 'test'):
    docs = list(text_sources.text_stream('wikitext-2', split, local_path=wikitext_files[source],
                                         data_dir=data_dir))
    assert all(isinstance(d, str) for d in docs)
    assert ''.join(docs) == wikitext_files[split]  # In order, every character.
    assert len(docs) == {'train': 5, 'validation': 2, 'test': 3}[split]
  tail = list(text_sources.text_stream('wikitext-2', 'train', local_path=wikitext_files[source],
                                       data_dir=data_dir, start=3))
  assert tail == wikitext_docs(wikitext_files['train'])[3:]
  # A non-official copy is prepared under its own, content-named config.
  prepared = os.listdir(os.path.join(data_dir, 'wikitext2_raw'))
  assert any(name.startswith('local_sha256_') for name in prepared)
  assert 'raw_v1' not in prepared


@pytest.mark.parametrize('dataset', ['wikitext-2', 'wikitext-103'])
def test_wikitext_under_mock_data(tmp_path, dataset):
  with tfds.testing.mock_data(num_examples=4):
    for split in ('train', 'validation', 'test'):
      docs = list(text_sources.text_stream(dataset, split, data_dir=str(tmp_path)))
      assert len(docs) == 4 and all(isinstance(d, str) and d for d in docs)
      tail = list(text_sources.text_stream(dataset, split, data_dir=str(tmp_path), start=3))
      assert tail == docs[3:]


def test_c4_streams_when_prepared_and_explains_when_not(tmp_path, monkeypatch):
  with pytest.raises(FileNotFoundError, match=r"'c4'.*not prepared.*tfds build c4/en"):
    text_sources.text_stream('c4', 'train', data_dir=str(tmp_path))
  with tfds.testing.mock_data(num_examples=5):
    monkeypatch.setattr(tfds.core.DatasetBuilder, 'is_prepared', lambda self: True)
    stream = text_sources.text_stream('c4', 'validation', data_dir=str(tmp_path))
    assert not isinstance(stream, list)  # A lazy iterator, not the materialised split.
    docs = list(stream)
  assert len(docs) == 5 and all(isinstance(d, str) for d in docs)


def test_dataset_errors(tmp_path, wikitext_files):
  with pytest.raises(ValueError, match=r"'wikitext-3'.*'tiny_shakespeare'.*'c4'"):
    text_sources.text_stream('wikitext-3', 'train')
  with pytest.raises(ValueError, match=r"'valid'.*'wikitext-2'.*'validation'"):
    text_sources.text_stream('wikitext-2', 'valid')
  with pytest.raises(ValueError, match="'test'"):
    text_sources.text_stream('tiny_shakespeare', 'test')
  missing = str(tmp_path / 'nowhere.zip')
  for dataset in ('wikitext-2', 'wikitext-103', 'local_text'):
    with pytest.raises(FileNotFoundError, match='nowhere.zip'):
      text_sources.text_stream(dataset, 'train', local_path=missing)
  not_wiki = tmp_path / 'notes.txt'
  not_wiki.write_text('hello')
  with pytest.raises(ValueError, match='notes.txt'):
    text_sources.text_stream('wikitext-2', 'train', local_path=str(not_wiki),
                             data_dir=str(tmp_path / 'data'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match=r'wiki\.(train|valid|test)\.raw.*empty'):
    text_sources.text_stream('wikitext-2', 'train', local_path=str(tmp_path / 'empty'),
                             data_dir=str(tmp_path / 'data'))
  assert not (tmp_path / 'data').exists()  # Refused before any preparation.
  with pytest.raises(ValueError, match='local_path'):
    text_sources.text_stream('c4', 'train', local_path=wikitext_files['zip'])
