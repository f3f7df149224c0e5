"""The Landauer LM's input: a character corpus as token arrays, and its fingerprint.

Text comes from `landauerjax.core.text_sources` (TFDS builders, no
TensorFlow), the vocabulary is a `landauerjax.core.tokenizers.CharVocab`, and
training windows and evaluation streams are cut by `landauerjax.core.windows`.

Shapes: N corpus length.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from landauerjax.core import errors
from landauerjax.core import text_sources
from landauerjax.core import workdir as workdir_lib
from landauerjax.core.tokenizers import CharVocab


@dataclasses.dataclass(frozen=True)
class CharCorpus:
  """Encoded splits and their vocabulary. train_N, validation_N: int32 arrays."""

  train: np.ndarray
  validation: np.ndarray
  vocab: CharVocab


def load_corpus(data_config: Any, vocab: CharVocab | None = None) -> CharCorpus:
  """Loads `config.data` ({dataset, local_path, data_dir}) through TFDS.

  The vocabulary is built from both splits of the corpus (65 characters for
  Tiny Shakespeare) unless one is given, e.g. the one saved with a checkpoint.
  """
  splits = text_sources.load_text_splits(
      data_config.dataset, local_path=data_config.local_path,
      data_dir=data_config.data_dir)
  if vocab is None:
    vocab = CharVocab.from_texts(splits['train'], splits['validation'])
  try:
    return CharCorpus(train=vocab.encode(splits['train']),
                      validation=vocab.encode(splits['validation']), vocab=vocab)
  except errors.DataError as e:  # Only with a given vocabulary: another corpus than the model's.
    unknown = sorted(set(splits['train'] + splits['validation']) - set(vocab.chars))
    raise errors.DataError(
        f'The corpus {data_config.local_path or data_config.dataset!r} has characters '
        f'the checkpoint\'s vocabulary lacks ({"".join(unknown[:20])!r}): it is not the '
        'corpus the model was trained on; evaluate on that one.') from e


def fingerprint(corpus: CharCorpus) -> str:
  """What identifies a run's data (`workdir.data_fingerprint`): both splits and the
  vocabulary, in the form runs have recorded since checksums began."""
  return workdir_lib.data_fingerprint(corpus.train, corpus.validation,
                                      extra={'chars': corpus.vocab.chars})
