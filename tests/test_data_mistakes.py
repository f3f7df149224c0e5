"""Data mistakes are caught, the same way for the Landauer LM and the field LM.

A wrong file given as Tiny Shakespeare, a directory or a missing path where a
text file is expected, and characters that occur only in the validation text.
"""

from __future__ import annotations

import ml_collections
import pytest

from conftest import small_corpus
from landauerjax import input_pipeline
from landauerjax.core.errors import ConfigError, DataError, DataNotFoundError
from fieldjax import input_pipeline as field_input
from landauerjax.core import text_files
from landauerjax.core import text_sources
from landauerjax.core import tokenizers

NOT_SHAKESPEARE = r"not the canonical Tiny Shakespeare.*dataset='local_text'.*--dataset=local_text"


def _one_line(excinfo) -> str:
  message = str(excinfo.value)
  assert '\n' not in message
  return message


def _config(dataset: str, local_path: str, data_dir: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(
      {'dataset': dataset, 'local_path': local_path, 'data_dir': data_dir})


# A wrong file as Tiny Shakespeare, before and after TFDS has prepared it.


def test_wrong_file_after_tiny_shakespeare_is_prepared(shakespeare_path, data_dir,
                                                       small_corpus_path):
  splits = text_sources.load_text_splits('tiny_shakespeare', local_path=shakespeare_path,
                                     data_dir=data_dir)
  assert len(splits['train']) == 1_003_854  # Prepared in data_dir now.
  with pytest.raises(DataError, match=NOT_SHAKESPEARE) as excinfo:
    text_sources.load_text_splits('tiny_shakespeare', local_path=small_corpus_path,
                              data_dir=data_dir)
  assert small_corpus_path in _one_line(excinfo)
  with pytest.raises(DataError, match=NOT_SHAKESPEARE):
    input_pipeline.load_corpus(_config('tiny_shakespeare', small_corpus_path, data_dir))
  with pytest.raises(DataError, match=NOT_SHAKESPEARE):
    field_input.load_token_splits('tiny_shakespeare', 'char',
                                     local_path=small_corpus_path, data_dir=data_dir)


def test_wrong_file_is_caught_with_or_without_prepared_data(tmp_path, monkeypatch,
                                                            small_corpus_path):
  """Same as above without the shared file: the small corpus stands in as canonical."""
  data_dir = str(tmp_path / 'data')
  other = tmp_path / 'other.txt'
  other.write_text(small_corpus(seed=1))
  # Fresh data_dir: the builder would catch it too; the check comes first.
  with pytest.raises(DataError, match=NOT_SHAKESPEARE):
    text_sources.load_text_splits('tiny_shakespeare', local_path=str(other), data_dir=data_dir)
  monkeypatch.setattr(text_files, 'TINY_SHAKESPEARE_SHA256',
                      text_files.file_sha256(small_corpus_path))
  splits = text_sources.load_text_splits('tiny_shakespeare', local_path=small_corpus_path,
                                     data_dir=data_dir)
  assert ''.join(splits.values()) == small_corpus()
  for load in (lambda: text_sources.load_text_splits('tiny_shakespeare', local_path=str(other),
                                                 data_dir=data_dir),
               lambda: list(text_sources.text_stream('tiny_shakespeare', 'validation',
                                                       local_path=str(other),
                                                       data_dir=data_dir))):
    with pytest.raises(DataError, match=NOT_SHAKESPEARE) as excinfo:
      load()
    assert isinstance(excinfo.value, ValueError) and 'other.txt' in _one_line(excinfo)


# A directory, or nothing, where a text file is expected.


def _text_file_loaders(local_path: str, data_dir: str):
  """Every entry point that takes a corpus text file, for both models."""
  for dataset in ('tiny_shakespeare', 'local_text'):
    yield lambda d=dataset: text_sources.load_text_splits(d, local_path=local_path,
                                                      data_dir=data_dir)
    yield lambda d=dataset: input_pipeline.load_corpus(_config(d, local_path, data_dir))
    yield lambda d=dataset: text_sources.text_stream(d, 'train', local_path=local_path,
                                                       data_dir=data_dir)
    yield lambda d=dataset: field_input.load_token_splits(d, 'char', local_path=local_path,
                                                             data_dir=data_dir)
    yield lambda d=dataset: field_input.dataset_tokenizer(d, 'char', local_path=local_path,
                                                             data_dir=data_dir)
  yield lambda: text_files.read_text_file(local_path)


def test_directory_given_as_data_file(tmp_path):
  folder = tmp_path / 'corpus_dir'
  folder.mkdir()
  (folder / 'input.txt').write_text(small_corpus())
  data_dir = str(tmp_path / 'data')
  for load in _text_file_loaders(str(folder), data_dir):
    with pytest.raises(DataError, match="is a directory; local_path must be the corpus's "
                                        'text file') as excinfo:
      load()
    assert isinstance(excinfo.value, ValueError) and str(folder) in _one_line(excinfo)
  assert not (tmp_path / 'data').exists()  # Refused before any preparation.


def test_missing_data_file(tmp_path):
  missing = str(tmp_path / 'nope.txt')
  for load in _text_file_loaders(missing, str(tmp_path / 'data')):
    with pytest.raises(DataNotFoundError, match="Data file not found: '.*nope.txt'") as excinfo:
      load()
    assert isinstance(excinfo.value, FileNotFoundError)
    _one_line(excinfo)
  assert not (tmp_path / 'data').exists()


def test_other_data_mistakes_are_user_errors(tmp_path, small_corpus_path):
  with pytest.raises(DataError, match=r"'local_text'.*local_path=FILE.*--local_path=FILE"):
    text_sources.load_text_splits('local_text', data_dir=str(tmp_path))
  with pytest.raises(DataError, match="'c4' takes no local_path"):
    text_sources.text_stream('c4', 'train', local_path=small_corpus_path)
  with pytest.raises(ConfigError, match="'shakespeare'"):
    text_sources.load_text_splits('shakespeare', data_dir=str(tmp_path))
  with pytest.raises(ConfigError, match="'shakespeare'"):
    text_sources.text_stream('shakespeare', 'train')
  latin1 = tmp_path / 'latin1.txt'
  latin1.write_bytes('caf\xe9 na\xefve, not UTF-8'.encode('latin-1'))
  with pytest.raises(DataError, match='latin1.txt.*not UTF-8.*convert') as excinfo:
    text_files.read_text_file(latin1)
  _one_line(excinfo)


# Characters seen only in the validation text.


def test_field_char_vocabulary_covers_both_splits_like_landauer(tmp_path):
  text = small_corpus() + 'SKÅL! Ærø.\n'
  cut = int(len(text) * text_files.TRAIN_FRACTION)
  assert not set('ÅÆø') & set(text[:cut])  # Only in the validation split.
  path = tmp_path / 'skal.txt'
  path.write_text(text, encoding='utf-8')
  data_dir = str(tmp_path / 'data')

  corpus = input_pipeline.load_corpus(_config('local_text', str(path), data_dir))
  tokenizer, splits = field_input.load_token_splits(
      'local_text', 'char', local_path=str(path), data_dir=data_dir)
  assert tokenizer.chars == corpus.vocab.chars == ''.join(sorted(set(text)))
  assert tokenizer.decode(splits['validation']).endswith('SKÅL! Ærø.\n')
  streamed = field_input.dataset_tokenizer('local_text', 'char', local_path=str(path),
                                              data_dir=data_dir)
  assert streamed.chars == corpus.vocab.chars
  with pytest.raises(DataError, match="'€'.*'byte' or 'sentencepiece'"):
    tokenizer.encode('a €')


def test_tiny_shakespeare_char_vocabulary_is_unchanged(shakespeare_path, data_dir):
  tokenizer, _ = field_input.load_token_splits(
      'tiny_shakespeare', 'char', local_path=shakespeare_path, data_dir=data_dir,
      splits=('validation',))
  with open(shakespeare_path, encoding='utf-8') as f:
    text = f.read()
  train_only = ''.join(sorted(set(text[:1_003_854])))
  assert tokenizer.chars == train_only and tokenizer.vocab_size == 65
  corpus = input_pipeline.load_corpus(_config('tiny_shakespeare', shakespeare_path, data_dir))
  assert corpus.vocab.chars == train_only
  assert isinstance(tokenizers.tokenizer_from_json(tokenizer.to_json()),
                    tokenizers.CharVocab)
