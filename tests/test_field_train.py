"""fieldjax.train: Hebbian training, resume (from token arrays and from a stream),
TrainConfig validation."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import small_corpus
from field_fixtures import char_corpus
from fieldjax import checkpoints
from fieldjax import field
from fieldjax import model
from fieldjax import perturbations
from fieldjax import config_schema as field_schema
from fieldjax import evaluation as field_evaluation
from fieldjax import hebbian
from fieldjax import train
from landauerjax.core import errors
from landauerjax.core import streams
from landauerjax.core import tokenizers
from landauerjax.core import windows as windows_lib


TRAIN_MODEL = model.ModelConfig(vocab_size=2, embed_dim=16, lags=4, lattice_dim=128,
                                field=field.FieldConfig(chunk=16, window=16, num_steps=1))


@pytest.fixture(scope='module')
def corpus():
  return char_corpus(TRAIN_MODEL)


def test_hebbian_training_lowers_validation_ce(corpus):
  cfg, train_tokens, val_tokens = corpus
  train_cfg = field_schema.TrainConfig(num_steps=60, batch_size=8, seq_len=16, eval_stride=16)
  schedule = perturbations.parse_schedule(train_cfg.perturbation_schedule)
  params = model.init_params(cfg, jax.random.PRNGKey(0))

  def val_ce(p):
    return field_evaluation.evaluate(p, val_tokens, cfg, seq_len=16, stride=16, batch_size=32)['ce']

  before = val_ce(params)
  assert before == pytest.approx(math.log(cfg.vocab_size), abs=1e-4)  # Uniform prior.
  tokens = jnp.asarray(train_tokens)
  for step in range(1, 61):
    params, metrics = hebbian.train_step(params, tokens, step, cfg, train_cfg, schedule)
  after = val_ce(params)
  assert math.isfinite(after) and after < before - 0.5, (before, after)
  assert float(jnp.sum(params['counts'])) == cfg.vocab_size + 60 * 8 * 16
  assert math.isfinite(float(metrics['ce']))


def _read_metrics(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    lines = [json.loads(line) for line in f]
  for line in lines:
    line.pop('tokens_per_sec')
  return lines


def test_train_resume_equals_uninterrupted_run(corpus, tmp_path):
  cfg, train_tokens, val_tokens = corpus
  n = 3
  make = lambda steps: field_schema.TrainConfig(
      num_steps=steps, batch_size=8, seq_len=16, log_every=1, eval_every=n,
      checkpoint_every=n, eval_stride=16, eval_max_tokens=100, eval_batch_size=32,
      perturbation_schedule='{"0": "levy", "2": "adaptive", "4": "beta"}')
  run = lambda steps, workdir: train.train(cfg, make(steps), train_tokens=train_tokens,
                                           validation_tokens=val_tokens,
                                           workdir=str(workdir))
  whole, split = tmp_path / 'whole', tmp_path / 'split'
  last_whole = run(2 * n, whole)
  run(n, split)
  last_split = run(2 * n, split)
  assert last_whole == last_split
  lines = _read_metrics(whole)
  assert [line['step'] for line in lines] == list(range(1, 2 * n + 1))
  assert lines == _read_metrics(split)
  step_a, params_a, cfg_a, _ = checkpoints.load(str(whole))
  step_b, params_b, cfg_b, _ = checkpoints.load(str(split))
  assert step_a == step_b == 2 * n and cfg_a == cfg_b == cfg
  for k in params_a:
    np.testing.assert_array_equal(np.asarray(params_a[k]), np.asarray(params_b[k]))

  other = dataclasses.replace(cfg, lattice_dim=64)
  with pytest.raises(errors.WorkdirError, match='model.lattice_dim: 128 -> 64'):
    train.train(other, make(2 * n + 1), train_tokens=train_tokens,
                validation_tokens=val_tokens, workdir=str(split))


@pytest.mark.parametrize('kwargs,match', [
    ({'eval_stride': 17, 'seq_len': 16}, 'eval_stride'),
    ({'eval_stride': 33, 'seq_len': 16, 'eval_seq_len': 32}, 'eval_stride'),
    ({'eval_seq_len': -1}, 'eval_seq_len'),
    ({'perturbation_schedule': '{"0": "levy"'}, 'Malformed JSON'),
    ({'perturbation_schedule': '{"0": "gauss"}'}, "'gauss'"),
    ({'perturbation_schedule': '{"5": "levy"}'}, 'step 0'),
    ({'perturbation_schedule': '[]'}, 'JSON object'),
    ({'batch_size': 0}, 'batch_size'),
])
def test_train_config_rejects_bad_settings(kwargs, match):
  with pytest.raises(ValueError, match=match):
    field_schema.TrainConfig(**kwargs)


def test_validation_uses_eval_seq_len_windows(corpus, tmp_path):
  """eval_seq_len sets the validation window (its CE is that of evaluate() with it, and
  differs from the training window's when the model reads within-window context)."""
  cfg, train_tokens, val_tokens = corpus
  cfg = dataclasses.replace(cfg, field=dataclasses.replace(cfg.field, window=64, chunk=64))
  settings = dict(num_steps=2, batch_size=4, seq_len=16, eval_every=2, checkpoint_every=2,
                  eval_stride=16, eval_max_tokens=200, eval_batch_size=8)
  assert field_schema.TrainConfig(**settings).eval_window == 16
  record = train.train(cfg, field_schema.TrainConfig(eval_seq_len=64, **settings),
                       train_tokens=train_tokens, validation_tokens=val_tokens,
                       workdir=str(tmp_path))
  _, params, _, _ = checkpoints.load(str(tmp_path))
  score = lambda seq_len: field_evaluation.evaluate(params, val_tokens, cfg, seq_len=seq_len, stride=16,
                                         batch_size=8, max_tokens=200)['ce']
  assert record['val_ce'] == pytest.approx(score(64), rel=1e-6)
  assert abs(score(64) - score(16)) > 1e-4


# Training from a stream (corpora too large to hold): resume is exact.

STREAM_CFG = model.ModelConfig(vocab_size=256, embed_dim=8, lags=3, lattice_dim=32)


def _stream(tokenizer, docs, batch, seq):
  """A TrainStream: grain batches of the documents, from a saved state (None: the start)."""
  dataset = streams.token_batches([{'text': d} for d in docs], tokenizer, batch, seq)
  return lambda state: streams.batches_with_state(dataset, state)


def _lines(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [{k: v for k, v in json.loads(l).items() if k != 'tokens_per_sec'} for l in f]


def test_streamed_training_resumes_exactly(tmp_path):
  tokenizer = tokenizers.ByteTokenizer()
  docs = small_corpus(60).split('.\n')
  validation = streams.encode_documents(docs[:5], tokenizer)
  common = dict(batch_size=2, seq_len=16, eval_stride=8, eval_every=2, checkpoint_every=2,
                log_every=1, perturbation_schedule='{"0": "levy", "3": "beta"}')
  stream = _stream(tokenizer, docs, 2, 16)
  whole = str(tmp_path / 'whole')
  train.train(STREAM_CFG, field_schema.TrainConfig(num_steps=6, **common), train_stream=stream,
              validation_tokens=validation, workdir=whole)
  parts = str(tmp_path / 'parts')
  train.train(STREAM_CFG, field_schema.TrainConfig(num_steps=4, **common), train_stream=stream,
              validation_tokens=validation, workdir=parts)
  # The checkpoint of step 4 holds the stream position; the rest continues from it.
  train.train(STREAM_CFG, field_schema.TrainConfig(num_steps=6, **common), train_stream=stream,
              validation_tokens=validation, workdir=parts)
  assert _lines(whole) == _lines(parts)
  _, params_whole, _, meta = checkpoints.load(whole)
  _, params_parts, _, _ = checkpoints.load(parts)
  for a, b in zip(jax.tree_util.tree_leaves(params_whole),
                  jax.tree_util.tree_leaves(params_parts)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Every process's stream position after its 6th batch (one process here).
  states = [state for _, state in itertools.islice(stream(None), 6)]
  assert meta['stream_state'] == {'processes': [json.loads(json.dumps(states[-1]))]}


def test_train_needs_exactly_one_data_source(tmp_path):
  cfg = field_schema.TrainConfig(num_steps=1, batch_size=2, seq_len=8, eval_stride=4)
  validation = np.arange(20, dtype=np.int32) % 7
  for kwargs in ({}, {'train_tokens': validation, 'train_stream': lambda s: iter(())}):
    try:
      train.train(STREAM_CFG, cfg, validation_tokens=validation, workdir=str(tmp_path),
                  **kwargs)
    except ValueError as e:
      assert 'exactly one' in str(e)
    else:
      raise AssertionError('no error')


SCHEDULE = '{"0": "levy", "2": "adaptive", "4": "beta"}'


def _host_keyed_step(params, tokens, step, cfg, train_cfg, schedule):
  """The step as it was before the keys moved into the jit: batch key, perturbation key
  and kind computed on the host, the windows drawn eagerly, the step undonated."""
  windows = jax.jit(windows_lib.sample_windows, static_argnums=(2, 3))(
      tokens, windows_lib.batch_key(train_cfg.seed, step), train_cfg.batch_size,
      train_cfg.seq_len)
  step_fn = jax.jit(hebbian.hebbian_step, static_argnames=('cfg',))
  return windows, step_fn(params, windows, hebbian.perturbation_key(train_cfg.seed, step),
                          perturbations.kind_index_at(schedule, step - 1), cfg=cfg)


def test_step_keys_in_the_jit_match_the_host_keys(corpus):
  """Steps 1, 3, 5 (kinds levy, adaptive, beta): the in-jit keys, kind and batch give
  bit for bit the update of the host-computed ones."""
  cfg, train_tokens, _ = corpus
  train_cfg = field_schema.TrainConfig(num_steps=5, batch_size=4, seq_len=16, eval_stride=16, seed=7,
                                perturbation_schedule=SCHEDULE)
  schedule = perturbations.parse_schedule(SCHEDULE)
  tokens = jnp.asarray(train_tokens)
  for step in (1, 3, 5):
    params = model.init_params(cfg, jax.random.PRNGKey(1))
    _, (want_params, want_metrics) = _host_keyed_step(params, tokens, step, cfg, train_cfg,
                                                      schedule)
    got_params, got_metrics = hebbian.train_step(params, tokens, step, cfg, train_cfg, schedule)
    jax.tree.map(np.testing.assert_array_equal, got_params, want_params)
    jax.tree.map(np.testing.assert_array_equal, got_metrics, want_metrics)


def test_stream_step_keys_in_the_jit_match_the_host_keys(corpus):
  cfg, train_tokens, _ = corpus
  train_cfg = field_schema.TrainConfig(num_steps=5, batch_size=4, seq_len=16, eval_stride=16, seed=3,
                                perturbation_schedule=SCHEDULE)
  schedule = perturbations.parse_schedule(SCHEDULE)
  params = model.init_params(cfg, jax.random.PRNGKey(1))
  windows, (want_params, _) = _host_keyed_step(params, jnp.asarray(train_tokens), 4, cfg,
                                               train_cfg, schedule)
  got_params, _ = hebbian.stream_step(params, windows, 4, cfg, train_cfg, schedule)
  jax.tree.map(np.testing.assert_array_equal, got_params, want_params)


def test_the_step_donates_its_params_and_equals_the_undonated_step(corpus):
  cfg, train_tokens, _ = corpus
  train_cfg = field_schema.TrainConfig(num_steps=2, batch_size=4, seq_len=16, eval_stride=16)
  schedule = perturbations.parse_schedule(train_cfg.perturbation_schedule)
  tokens = jnp.asarray(train_tokens)
  params = model.init_params(cfg, jax.random.PRNGKey(0))
  kept = hebbian.copy_params(params)
  assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(kept))
  _, (want, _) = _host_keyed_step(kept, tokens, 2, cfg, train_cfg, schedule)
  got, _ = hebbian.train_step(params, tokens, 2, cfg, train_cfg, schedule)
  # Every leaf the step updates (the counts, the crystal) was donated; none of the copy.
  assert params['crystal'].is_deleted() and params['counts'].is_deleted()
  assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(kept))
  jax.tree.map(np.testing.assert_array_equal, got, want)
