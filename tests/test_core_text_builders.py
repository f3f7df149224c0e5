"""Tests of landauerjax.core.text_builders: the canonical split, file checks, the TFDS builders."""

from __future__ import annotations

import pytest

from conftest import fake_wikitext
from landauerjax.core import text_builders
from landauerjax.core import text_files
from landauerjax.core import text_sources


@pytest.mark.parametrize('n', [10, 11, 19, 101, 1_115_394])
def test_canonical_split(n):
  text = ''.join(chr(ord('a') + i % 26) for i in range(n))
  splits = text_files.canonical_split(text)
  assert len(splits['train']) == int(n * 0.9)
  assert splits['train'] + splits['validation'] == text


def test_canonical_split_of_tiny_shakespeare_size():
  splits = text_files.canonical_split('x' * 1_115_394)
  assert (len(splits['train']), len(splits['validation'])) == (1_003_854, 111_540)


def test_local_text_builder(tmp_path):
  path = tmp_path / 'corpus.txt'
  text = 'hello world, this is a small corpus.\n' * 5
  path.write_text(text)
  data_dir = str(tmp_path / 'data')
  splits = text_sources.load_text_splits('local_text', local_path=str(path), data_dir=data_dir)
  assert splits == text_files.canonical_split(text)
  # A new content at the same path gets its own prepared data.
  other = 'a different corpus entirely!\n' * 4
  path.write_text(other)
  splits = text_sources.load_text_splits('local_text', local_path=str(path), data_dir=data_dir)
  assert splits == text_files.canonical_split(other)


def test_local_sha256_is_memoised_by_path_mtime_and_size(tmp_path):
  path = tmp_path / 'corpus.txt'
  path.write_text('first version of the text')
  calls = []

  def counting_sha256(p: str) -> str:
    calls.append(p)
    return text_files.file_sha256(p)

  first = text_files.local_sha256(str(path), counting_sha256)
  assert text_files.local_sha256(path, counting_sha256) == first
  assert calls == [str(path.resolve())]
  path.write_text('second, longer version of the text')
  assert text_files.local_sha256(str(path), counting_sha256) != first
  assert len(calls) == 2
  assert text_files.local_sha256(str(path)) == text_files.file_sha256(path)


def test_wikitext_articles_keep_every_character():
  raw = fake_wikitext(4)
  articles = list(text_files.wikitext_articles(raw.splitlines(keepends=True)))
  assert ''.join(articles) == raw
  assert len(articles) == 4
  assert all(' = = ' not in a.splitlines()[0] for a in articles)
  assert [a.split('\n')[int(i == 0)] for i, a in enumerate(articles)] == [
      f' = Article {i} = ' for i in range(4)]


def test_wikitext_official_copy_and_download(wikitext_files, tmp_path, monkeypatch):
  # A local copy with the official sha256 prepares the same config as a download.
  digest = text_files.file_sha256(wikitext_files['zip'])
  monkeypatch.setitem(text_files.WIKITEXT_SHA256, 'wikitext-2', digest)
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
  assert dl_manager.urls == [text_files.WIKITEXT_URLS['wikitext-2']]
  # Registered, so TFDS checks the download's size and sha256.
  assert builder.url_infos[dl_manager.urls[0]].checksum == (
      'ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11')
  assert ''.join(ex['text'] for _, ex in generators['test']) == wikitext_files['test']


def test_wikitext_builder_refuses_a_missing_local_copy(tmp_path):
  missing = str(tmp_path / 'nowhere.zip')
  with pytest.raises(FileNotFoundError, match='nowhere.zip'):
    text_builders.Wikitext2Raw(local_path=missing, data_dir=str(tmp_path))
