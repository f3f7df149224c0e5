"""fieldjax.train: Hebbian training, resume, TrainConfig validation."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from field_fixtures import char_corpus
from fieldjax import checkpoints
from fieldjax import field
from fieldjax import model
from fieldjax import perturbations
from fieldjax import train
from landauerjax.core import errors


TRAIN_MODEL = model.ModelConfig(vocab_size=2, embed_dim=16, lags=4, lattice_dim=128,
                                field=field.FieldConfig(chunk=16, window=16, num_steps=1))


@pytest.fixture(scope='module')
def corpus():
  return char_corpus(TRAIN_MODEL)


def test_hebbian_training_lowers_validation_ce(corpus):
  cfg, train_tokens, val_tokens = corpus
  train_cfg = train.TrainConfig(num_steps=60, batch_size=8, seq_len=16, eval_stride=16)
  schedule = perturbations.parse_schedule(train_cfg.perturbation_schedule)
  params = model.init_params(cfg, jax.random.PRNGKey(0))

  def val_ce(p):
    return train.evaluate(p, val_tokens, cfg, seq_len=16, stride=16, batch_size=32)['ce']

  before = val_ce(params)
  assert before == pytest.approx(math.log(cfg.vocab_size), abs=1e-4)  # Uniform prior.
  tokens = jnp.asarray(train_tokens)
  for step in range(1, 61):
    params, metrics = train.train_step(params, tokens, step, cfg, train_cfg, schedule)
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
  make = lambda steps: train.TrainConfig(
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
    ({'perturbation_schedule': '{"0": "levy"'}, 'Malformed JSON'),
    ({'perturbation_schedule': '{"0": "gauss"}'}, "'gauss'"),
    ({'perturbation_schedule': '{"5": "levy"}'}, 'step 0'),
    ({'perturbation_schedule': '[]'}, 'JSON object'),
    ({'batch_size': 0}, 'batch_size'),
])
def test_train_config_rejects_bad_settings(kwargs, match):
  with pytest.raises(ValueError, match=match):
    train.TrainConfig(**kwargs)
