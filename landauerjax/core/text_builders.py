"""TFDS builders of the text corpora both models read, and checks of local copies.

Every builder writes `array_record` files, which `tfds.data_source` reads with
no TensorFlow installed (`tfds.load` would need it).

* `TinyShakespeareChars` (`tiny_shakespeare_chars`): the canonical 1,115,394
  character file that TFDS uses, split 90% train / 10% validation (TFDS's
  `train` vs `validation+test`), one example per split. On a networked machine
  it downloads the file and checks its sha256 against `checksums.tsv`
  (beside this module); offline, pass the path of a local copy as
  `local_path`, which gets the same checksum check.
* `LocalText` (`local_text`): any UTF-8 text file of the user's, same split.
  Each distinct file content gets its own builder config (named by its hash),
  so two corpora never share prepared files.
* `Wikitext2Raw` / `Wikitext103Raw` (`wikitext2_raw`, `wikitext103_raw`):
  WikiText raw v1, splits 'train', 'validation', 'test'; one example per
  article, in file order, so that the articles of a split concatenated give
  back its wiki.*.raw file exactly. From the official zip (downloaded, or a
  local copy of it or of its extracted directory).

Data mistakes raise `DataError` / `DataNotFoundError` (landauerjax.core.errors),
each a one-line message that names the problem and what to do.
The checks, hashes and reading of local files live in `landauerjax.core.text_files`
(no TFDS); `landauerjax.core.text_sources` reads these datasets (and C4). Imports no model.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow_datasets as tfds

from landauerjax.core.errors import DataError, DataNotFoundError
from landauerjax.core.text_files import (  # pylint: disable=g-importing-member
    open_wikitext_file,
    canonical_split,
    check_data_file,
    check_tiny_shakespeare,
    check_wikitext_copy,
    content_sha256,
    local_sha256,
    read_text_file,
    TINY_SHAKESPEARE_URL,
    wikitext_articles,
    WIKITEXT_FILES,
    WIKITEXT_SHA256,
    WIKITEXT_URLS,
)


def _split_generators_for(text: str):
  return {name: [('0', {'text': part})]
          for name, part in canonical_split(text).items()}


class _CharCorpusBuilder(tfds.core.GeneratorBasedBuilder):
  """Shared parts of the two builders below."""

  def __init__(self, **kwargs: Any):
    # array_record is the format that reads and writes without TensorFlow.
    kwargs.setdefault('file_format', 'array_record')
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({'text': tfds.features.Text()}),
        supervised_keys=None,
    )

  def _generate_examples(self, examples):
    yield from examples

  def _split_generators(self, dl_manager):
    text = self._read_corpus(dl_manager)
    return {name: self._generate_examples(examples)
            for name, examples in _split_generators_for(text).items()}

  def _read_corpus(self, dl_manager) -> str:
    raise NotImplementedError


class TinyShakespeareChars(_CharCorpusBuilder):
  """Tiny Shakespeare, whole text per split (train 90%, validation 10%)."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Canonical 90/10 split of the char-rnn file.'}

  def __init__(self, *, local_path: str | None = None, **kwargs: Any):
    self._local_path = local_path or None
    super().__init__(**kwargs)

  def _read_corpus(self, dl_manager) -> str:
    if self._local_path is None:
      try:
        path = dl_manager.download(TINY_SHAKESPEARE_URL)  # Checked against checksums.tsv.
      except Exception as e:  # pylint: disable=broad-except  # Network errors of any kind.
        raise DataNotFoundError(
            f'Could not download Tiny Shakespeare from {TINY_SHAKESPEARE_URL} '
            f'({type(e).__name__}; no network?): pass a local copy, '
            'config.data.local_path=FILE (field LM: --local_path=FILE).') from e
    else:
      path = check_tiny_shakespeare(self._local_path)
    return read_text_file(path)


class LocalText(_CharCorpusBuilder):
  """Any local UTF-8 text file, split 90/10; one config per file content."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First version.'}

  def __init__(self, *, local_path: str | None = None, **kwargs: Any):
    if not local_path:
      raise DataError("Dataset 'local_text' needs the path of your text file: set "
                      'config.data.local_path=FILE (Landauer LM) or --local_path=FILE '
                      '(field LM).')
    self._local_path = check_data_file(local_path)
    kwargs.setdefault('config', tfds.core.BuilderConfig(
        name='sha256_' + local_sha256(local_path)[:16],
        description=f'Prepared from {local_path}'))
    super().__init__(**kwargs)

  def _read_corpus(self, dl_manager) -> str:
    del dl_manager
    return read_text_file(self._local_path)


class _WikitextRaw(tfds.core.GeneratorBasedBuilder):
  """WikiText raw v1, one example per article; see the module docstring."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'One example per article, in file order.'}
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(
      name='raw_v1', description='The official archive (downloaded, or the same local copy).')]
  DATASET: str = ''  # Key of WIKITEXT_URLS.

  def __init__(self, *, local_path: str | None = None, **kwargs: Any):
    """`local_path`: the raw zip or an extracted directory ('' / None downloads).

    A local copy identical to the official zip prepares the 'raw_v1' config,
    like a download; any other content gets its own config, named by its hash,
    so a modified or fake copy never shares prepared files with the real one.
    """
    self._local_path = local_path or None
    if self._local_path is not None:
      check_wikitext_copy(self._local_path)
      digest = content_sha256(self._local_path)
      if digest == WIKITEXT_SHA256[self.DATASET]:
        kwargs.setdefault('config', 'raw_v1')
      else:
        kwargs.setdefault('config', tfds.core.BuilderConfig(
            name='local_sha256_' + digest[:16],
            description=f'Prepared from {self._local_path}'))
    # array_record is the format that reads and writes without TensorFlow.
    kwargs.setdefault('file_format', 'array_record')
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({'text': tfds.features.Text()}),
        supervised_keys=None,
        # Articles stay in file order: a split is one continuous text.
        disable_shuffling=True,
        homepage=('https://blog.salesforceairesearch.com/'
                  'the-wikitext-long-term-dependency-language-modeling-dataset/'),
        citation="""@article{merity2016pointer,
  title={Pointer Sentinel Mixture Models},
  author={Merity, Stephen and Xiong, Caiming and Bradbury, James and Socher, Richard},
  journal={arXiv preprint arXiv:1609.07843},
  year={2016}}""",
    )

  def _split_generators(self, dl_manager):
    if self._local_path is None:
      # Checked against checksums.tsv (see WIKITEXT_SHA256).
      path = os.fspath(dl_manager.download(WIKITEXT_URLS[self.DATASET]))
    else:
      path = self._local_path
    return {split: self._generate_examples(path, name)
            for split, name in WIKITEXT_FILES.items()}

  def _generate_examples(self, path: str, name: str):
    with open_wikitext_file(path, name) as f:
      for i, article in enumerate(wikitext_articles(f)):
        yield i, {'text': article}


class Wikitext2Raw(_WikitextRaw):
  """WikiText-2 raw v1 (`wikitext2_raw`): ~2M training words (~11M characters)."""

  DATASET = 'wikitext-2'


class Wikitext103Raw(_WikitextRaw):
  """WikiText-103 raw v1 (`wikitext103_raw`): ~103M training words (~540M characters)."""

  DATASET = 'wikitext-103'


WIKITEXT_BUILDERS = {'wikitext-2': Wikitext2Raw, 'wikitext-103': Wikitext103Raw}

BUILDERS = {
    'tiny_shakespeare': TinyShakespeareChars,
    'local_text': LocalText,
    **WIKITEXT_BUILDERS,
}
