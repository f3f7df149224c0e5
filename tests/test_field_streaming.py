"""Training from a stream (corpora too large to hold): resume is exact, end to end on fake WikiText-103."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from conftest import small_corpus
from fieldjax import checkpoints
from fieldjax import model
from fieldjax import train
from test_field_data import fake_wikitext
from test_field_experiments import TINY, _run
from landauerjax.core import packing
from landauerjax.core import text_builders
from landauerjax.core import tokenizers

CFG = model.ModelConfig(vocab_size=256, embed_dim=8, lags=3, lattice_dim=32)


def _stream(tokenizer, docs, batch, seq):
  def stream(state_json):
    state = packing.PackerState.from_json(state_json) if state_json else None
    for windows, state in packing.token_batches(lambda start: docs[start:], tokenizer, batch,
                                                 seq, state=state, repeat=True):
      yield windows, state.to_json()
  return stream


def _lines(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [{k: v for k, v in json.loads(l).items() if k != 'tokens_per_sec'} for l in f]


def test_streamed_training_resumes_exactly(tmp_path):
  tokenizer = tokenizers.ByteTokenizer()
  docs = small_corpus(60).split('.\n')
  validation = packing.encode_documents(docs[:5], tokenizer)
  common = dict(batch_size=2, seq_len=16, eval_stride=8, eval_every=2, checkpoint_every=2, log_every=1,
                perturbation_schedule='{"0": "levy", "3": "beta"}')
  stream = _stream(tokenizer, docs, 2, 16)
  whole = str(tmp_path / 'whole')
  train.train(CFG, train.TrainConfig(num_steps=6, **common), train_stream=stream,
              validation_tokens=validation, workdir=whole)
  parts = str(tmp_path / 'parts')
  train.train(CFG, train.TrainConfig(num_steps=4, **common), train_stream=stream,
              validation_tokens=validation, workdir=parts)
  # The checkpoint of step 4 holds the stream position; the rest continues from it.
  train.train(CFG, train.TrainConfig(num_steps=6, **common), train_stream=stream,
              validation_tokens=validation, workdir=parts)
  assert _lines(whole) == _lines(parts)
  _, params_whole, _, meta = checkpoints.load(whole)
  _, params_parts, _, _ = checkpoints.load(parts)
  for a, b in zip(jax.tree_util.tree_leaves(params_whole), jax.tree_util.tree_leaves(params_parts)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert meta['stream_state']['batches'] == 6


def test_train_needs_exactly_one_data_source(tmp_path):
  cfg = train.TrainConfig(num_steps=1, batch_size=2, seq_len=8, eval_stride=4)
  validation = np.arange(20, dtype=np.int32) % 7
  for kwargs in ({}, {'train_tokens': validation, 'train_stream': lambda s: iter(())}):
    try:
      train.train(CFG, cfg, validation_tokens=validation, workdir=str(tmp_path), **kwargs)
    except ValueError as e:
      assert 'exactly one' in str(e)
    else:
      raise AssertionError('no error')


@pytest.mark.slow
def test_train_command_streams_wikitext103_with_sentencepiece(tmp_path, data_dir):
  root = tmp_path / 'wikitext-103-raw'
  root.mkdir()
  for split, name in text_builders.WIKITEXT_FILES.items():
    (root / name).write_text(fake_wikitext(8 if split == 'train' else 2, len(name)),
                             encoding='utf-8')
  workdir = tmp_path / 'run'
  result = _run('train', f'--workdir={workdir}', '--dataset=wikitext-103',
                f'--local_path={root}', f'--data_dir={data_dir}', '--tokenizer=sentencepiece',
                '--vocab_size=120', *TINY, '--num_steps=4', '--eval_every=2',
                '--checkpoint_every=2')
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [l['step'] for l in lines] == [2, 4] and all(l['val_ce'] > 0 for l in lines)
  assert any(name.endswith('.model') for name in os.listdir(workdir / 'tokenizer'))
  meta = json.loads((workdir / 'checkpoints' / '4' / 'meta' / 'metadata').read_text())
  assert meta['stream_state']['batches'] == 4 and meta['tokenizer']['kind'] == 'sentencepiece'
