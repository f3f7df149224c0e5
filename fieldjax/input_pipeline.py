"""From `config.data` to what `fieldjax.train.train` reads: a tokenizer and token data.

Small corpora (`datasets.IN_MEMORY_DATASETS`) are held as whole token arrays;
the others (wikitext-103, c4) stream their training split through
`datasets.token_batches`, with the packer's position saved in every
checkpoint, and evaluate on the first tokens of their validation split.

Shapes: N tokens, B batch, T sequence length.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterator

import numpy as np

from fieldjax import datasets
from fieldjax import tokenizers
from landauerjax import datasets as text_datasets
from landauerjax.core import errors
from landauerjax.core import workdir as workdir_lib

# Validation tokens of a streamed dataset, unless config.eval.max_tokens says otherwise.
STREAM_EVAL_TOKENS = 1_000_000


def tokenizer_kind(data_config: Any) -> str:
  """config.data.tokenizer, or by default 'char' for the character corpora and
  'sentencepiece' for the rest."""
  if data_config.tokenizer:
    if data_config.tokenizer not in tokenizers.KINDS:
      raise errors.ConfigError(f'Unknown config.data.tokenizer {data_config.tokenizer!r}; '
                               f'expected one of {list(tokenizers.KINDS)}.')
    return data_config.tokenizer
  return 'char' if data_config.dataset in datasets.TEXT_FILE_DATASETS else 'sentencepiece'


@dataclasses.dataclass
class Data:
  """A tokenizer and its data, as `train` takes them.

  Exactly one of `train_tokens` (int32 [N]) and `train_stream` (state ->
  iterator of (int32 [B, T + 1], state)) is set; `fingerprint` identifies the
  data for resume checks (None: `train` hashes the token arrays).
  """

  tokenizer: tokenizers.Tokenizer
  validation_tokens: np.ndarray
  train_tokens: np.ndarray | None = None
  train_stream: Any = None
  fingerprint: str | None = None

  def train_kwargs(self) -> dict[str, Any]:
    kwargs = {'validation_tokens': self.validation_tokens}
    if self.train_tokens is not None:
      kwargs['train_tokens'] = self.train_tokens
    else:
      kwargs['train_stream'] = self.train_stream
    if self.fingerprint is not None:
      kwargs['data_fingerprint'] = self.fingerprint
    return kwargs


def load(data_config: Any, *, batch_size: int, seq_len: int, eval_max_tokens: int,
         cache_dir: str) -> Data:
  """The tokenizer and token data of `config.data`.

  Args:
    data_config: {dataset, local_path, data_dir, tokenizer, vocab_size}.
    batch_size, seq_len: the training batches (streamed datasets pack them).
    eval_max_tokens: validation tokens of a streamed dataset (0: STREAM_EVAL_TOKENS).
    cache_dir: where a SentencePiece tokenizer is cached (made when needed).
  """
  dataset = data_config.dataset
  if dataset not in datasets.DATASETS:
    raise errors.ConfigError(f'Unknown config.data.dataset {dataset!r}; expected one of '
                             f'{list(datasets.DATASETS)}.')
  kind = tokenizer_kind(data_config)
  local_path, data_dir = data_config.local_path, data_config.data_dir
  if dataset in datasets.IN_MEMORY_DATASETS:
    tokenizer, splits = datasets.load_token_splits(
        dataset, kind, local_path=local_path, data_dir=data_dir,
        vocab_size=data_config.vocab_size, cache_dir=cache_dir)
    return Data(tokenizer, validation_tokens=splits['validation'],
                train_tokens=splits['train'])
  tokenizer = datasets.dataset_tokenizer(dataset, kind, local_path=local_path,
                                         data_dir=data_dir, vocab_size=data_config.vocab_size,
                                         cache_dir=cache_dir)
  source = datasets.text_source(dataset, 'train', local_path=local_path, data_dir=data_dir)

  def train_stream(state_json: Any) -> Iterator[tuple[np.ndarray, Any]]:
    state = datasets.PackerState.from_json(state_json) if state_json else None
    for windows, state in datasets.token_batches(source, tokenizer, batch_size, seq_len,
                                                 state=state, repeat=True):
      yield windows, state.to_json()

  limit = eval_max_tokens or STREAM_EVAL_TOKENS
  pieces, count = [], 0
  for doc in datasets.text_stream(dataset, 'validation', local_path=local_path,
                                  data_dir=data_dir):
    pieces.append(datasets.document_tokens(doc, tokenizer))
    count += len(pieces[-1])
    if count > limit:
      break
  validation = np.concatenate(pieces)[:limit + 1].astype(np.int32)
  # A stream is not hashed whole: its source, local copy and tokenizer are.
  local = (text_datasets.local_sha256(local_path)
           if local_path and os.path.isfile(local_path) else '')
  fingerprint = workdir_lib.data_fingerprint(
      validation, extra={'dataset': dataset, 'tokenizer': tokenizer.to_json(), 'local': local})
  return Data(tokenizer, validation_tokens=validation, train_stream=train_stream,
              fingerprint=fingerprint)
