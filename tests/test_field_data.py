"""Tests of fieldjax.tokenizers and fieldjax.datasets (no network, a few seconds)."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import sentencepiece as spm
import tensorflow_datasets as tfds

from conftest import small_corpus
from fieldjax import input_pipeline as field_input
from landauerjax.core import packing
from landauerjax.core import text_builders
from landauerjax.core import text_sources
from landauerjax.core import tokenizers

WIKI_FILES = ('wiki.train.raw', 'wiki.valid.raw', 'wiki.test.raw')


def fake_wikitext(num_articles: int, seed: int = 0) -> str:
  """A raw WikiText-like file: ' = Title = ' articles with ' = = Section = = ' parts."""
  rng = np.random.default_rng(seed)
  words = small_corpus(40, seed).split()
  lines = [' \n']
  for a in range(num_articles):
    lines += [f' = Article {a} = \n', ' \n']
    for s in range(int(rng.integers(1, 3))):
      if s:
        lines += [f' = = Section {s} = = \n', ' \n']
      sentence = ' '.join(rng.choice(words, int(rng.integers(5, 15))))
      lines += [f' {sentence} , naïve café – {a} @-@ {s} . \n', ' \n']
  return ''.join(lines)


@pytest.fixture(scope='module')
def wikitext_files(tmp_path_factory) -> dict[str, str]:
  """Split -> raw text, written as an extracted directory and as a zip archive."""
  root = tmp_path_factory.mktemp('wikitext')
  texts = {'train': fake_wikitext(5, 0), 'validation': fake_wikitext(2, 1),
           'test': fake_wikitext(3, 2)}
  extracted = root / 'wikitext-2-raw'
  extracted.mkdir()
  for split, name in text_builders.WIKITEXT_FILES.items():
    (extracted / name).write_text(texts[split], encoding='utf-8')
  with zipfile.ZipFile(root / 'wikitext-2-raw-v1.zip', 'w') as archive:
    for name in WIKI_FILES:
      archive.write(extracted / name, f'wikitext-2-raw/{name}')
  return {'zip': str(root / 'wikitext-2-raw-v1.zip'), 'dir': str(root), **texts}


# Tokenizers.


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
  with pytest.raises(ValueError, match="'wordpiece'"):
    field_input.load_token_splits('local_text', 'wordpiece', local_path=__file__)
  with pytest.raises(ValueError, match="'bpe2'"):
    tokenizers.make_tokenizer('sentencepiece', ['x'], model_type='bpe2')


# WikiText.


def test_wikitext_articles_keep_every_character():
  raw = fake_wikitext(4)
  articles = list(text_builders.wikitext_articles(raw.splitlines(keepends=True)))
  assert ''.join(articles) == raw
  assert len(articles) == 4
  assert all(' = = ' not in a.splitlines()[0] for a in articles)
  assert [a.split('\n')[int(i == 0)] for i, a in enumerate(articles)] == [
      f' = Article {i} = ' for i in range(4)]


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
  assert tail == docs_of(wikitext_files['train'])[3:]
  # A non-official copy is prepared under its own, content-named config.
  prepared = os.listdir(os.path.join(data_dir, 'wikitext2_raw'))
  assert any(name.startswith('local_sha256_') for name in prepared)
  assert 'raw_v1' not in prepared


def docs_of(raw: str) -> list[str]:
  return list(text_builders.wikitext_articles(raw.splitlines(keepends=True)))


def test_wikitext_official_copy_and_download(wikitext_files, tmp_path, monkeypatch):
  # A local copy with the official sha256 prepares the same config as a download.
  digest = text_builders.file_sha256(wikitext_files['zip'])
  monkeypatch.setitem(text_builders.WIKITEXT_SHA256, 'wikitext-2', digest)
  builder = text_builders.Wikitext2Raw(local_path=wikitext_files['zip'], data_dir=str(tmp_path))
  assert builder.builder_config.name == 'raw_v1'

  class FakeDownloadManager:
    """Stands in for TFDS's: 'downloads' the canonical URL to the fake zip."""

    def __init__(self):
      self.urls = []

    def download(self, url):
      self.urls.append(url)
      return wikitext_files['zip']

  builder = text_builders.Wikitext2Raw(data_dir=str(tmp_path))
  assert builder.builder_config.name == 'raw_v1'
  dl_manager = FakeDownloadManager()
  generators = builder._split_generators(dl_manager)  # pylint: disable=protected-access
  assert dl_manager.urls == [text_builders.WIKITEXT_URLS['wikitext-2']]
  # Registered, so TFDS checks the download's size and sha256.
  assert builder.url_infos[dl_manager.urls[0]].checksum == (
      'ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11')
  assert ''.join(ex['text'] for _, ex in generators['test']) == wikitext_files['test']


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
  with pytest.raises(FileNotFoundError, match='nowhere.zip'):
    text_builders.Wikitext2Raw(local_path=missing, data_dir=str(tmp_path))
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
  for dataset in ('wikitext-103', 'c4'):
    with pytest.raises(ValueError, match=f"'{dataset}'.*too large.*token_batches"):
      field_input.load_token_splits(dataset, 'byte')
  with pytest.raises(ValueError, match='local_path'):
    text_sources.text_stream('c4', 'train', local_path=wikitext_files['zip'])


# Whole corpora and the packer.


def test_load_token_splits_sentencepiece(small_corpus_path, tmp_path):
  cache = str(tmp_path / 'tokenizer')
  kwargs = dict(local_path=small_corpus_path, data_dir=str(tmp_path / 'data'),
                vocab_size=80, cache_dir=cache)
  tokenizer, splits = field_input.load_token_splits('local_text', 'sentencepiece', **kwargs)
  assert set(splits) == {'train', 'validation'} and tokenizer.vocab_size == 80
  text = open(small_corpus_path, encoding='utf-8').read()
  for split, part in text_builders.canonical_split(text).items():
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


def _documents(n: int = 30) -> list[str]:
  rng = np.random.default_rng(1)
  words = small_corpus(20).split()
  return [' '.join(rng.choice(words, int(rng.integers(0, 25)))) for _ in range(n)]


@pytest.fixture(scope='module')
def spm_tokenizer():
  return tokenizers.make_tokenizer('sentencepiece', _documents(), vocab_size=50)


@pytest.mark.parametrize('kind', ['byte', 'sentencepiece'])
def test_token_batches_pack_the_stream(kind, spm_tokenizer):
  docs = _documents()
  tokenizer = spm_tokenizer if kind == 'sentencepiece' else tokenizers.ByteTokenizer()
  stream = packing.encode_documents(docs, tokenizer)
  batch_size, seq_len = 3, 7
  out = list(packing.token_batches(docs, tokenizer, batch_size, seq_len))
  assert len(out) == (len(stream) - 1) // (batch_size * seq_len) and len(out) > 3
  rows = np.concatenate([batch for batch, _ in out])
  assert rows.shape[1:] == (seq_len + 1,) and rows.dtype == np.int32
  for r, row in enumerate(rows):  # Row r: tokens [r*T, r*T + T].
    np.testing.assert_array_equal(row, stream[r * seq_len:r * seq_len + seq_len + 1])
  if kind == 'sentencepiece':
    assert (stream == tokenizer.eos_id).sum() == len(docs)
  assert [s.batches for _, s in out] == list(range(1, len(out) + 1))
  # Deterministic.
  again = list(packing.token_batches(iter(docs), tokenizer, batch_size, seq_len))
  assert all(np.array_equal(a, b) and s == t for (a, s), (b, t) in zip(out, again))


@pytest.mark.parametrize('callable_texts', [False, True])
def test_token_batches_resume(spm_tokenizer, callable_texts):
  docs = _documents()
  texts = (lambda start: iter(docs[start:])) if callable_texts else docs
  full = list(packing.token_batches(texts, spm_tokenizer, 2, 5))
  assert len(full) > 5
  for k in range(len(full)):
    state = packing.PackerState.from_json(json.loads(json.dumps(full[k][1].to_json())))
    resumed = list(packing.token_batches(texts, spm_tokenizer, 2, 5, state=state))
    assert len(resumed) == len(full) - k - 1
    for (a, s), (b, t) in zip(resumed, full[k + 1:]):
      np.testing.assert_array_equal(a, b)
      assert s == t


def test_token_batches_repeat_resumes_across_epochs():
  docs = ['abcdefg', '', 'hij', 'klmnopqrs']
  texts = lambda start: iter(docs[start:])
  tokenizer = tokenizers.ByteTokenizer()
  gen = packing.token_batches(texts, tokenizer, 2, 3, repeat=True)
  full = [next(gen) for _ in range(12)]
  stream = packing.encode_documents(docs * 6, tokenizer)
  np.testing.assert_array_equal(np.concatenate([b for b, _ in full])[:, :-1].reshape(-1),
                                stream[:12 * 6])
  assert full[-1][1].epoch >= 2
  for k in (0, 3, 7):
    gen = packing.token_batches(texts, tokenizer, 2, 3, repeat=True, state=full[k][1])
    for (a, s), (b, t) in zip([next(gen) for _ in range(11 - k)], full[k + 1:]):
      np.testing.assert_array_equal(a, b)
      assert s == t
  with pytest.raises(ValueError, match='callable'):
    packing.token_batches(docs, tokenizer, 2, 3, repeat=True)
  with pytest.raises(ValueError, match='no tokens'):
    next(packing.token_batches(lambda start: iter(['', ''][start:]), tokenizer, 1, 1,
                                repeat=True))


def test_token_batches_bad_state():
  state = packing.PackerState(documents=0, offset=99)
  with pytest.raises(ValueError, match='past the end of document 0'):
    next(packing.token_batches(['short'], tokenizers.ByteTokenizer(), 1, 2, state=state))
  with pytest.raises(ValueError, match='batch_size'):
    packing.token_batches(['short'], tokenizers.ByteTokenizer(), 0, 2)
