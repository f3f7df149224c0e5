"""Tests of landauerjax.train: loss terms, a training run, resume, NaN stop, evaluation."""

from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from landauerjax import losses
from landauerjax import evaluation
from landauerjax import config_schema
from landauerjax import checkpoints
from landauerjax import input_pipeline
from landauerjax import models
from landauerjax import train
from landauerjax.core import errors

V = 9


def _read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _train_lines(records):
  return {r['step']: r for r in records if 'train_loss' in r}


def _eval_lines(records):
  return {r['step']: r for r in records if 'val_ce' in r}


def _log_softmax(x):
  x = np.asarray(x, np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _random_params(config, seed, scale=0.5):
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda k: models.init_params(config, k), jax.random.PRNGKey(0))
  return jax.tree_util.tree_map(
      lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


@pytest.fixture(scope='module')
def tiny_model():
  config = models.ModelConfig(vocab_size=V, variant='original', embed_dim=6, hidden_dim=8,
                              num_layers=2)
  return models.LandauerLM(config), _random_params(config, seed=0)


@pytest.fixture(scope='module')
def run_a(tiny_config, landauer_run):
  """An uninterrupted 6-step run: (config, workdir, returned metrics)."""
  return (tiny_config('original'), *landauer_run)


def test_inertia_penalty_is_mean_squared_velocity():
  x = np.random.default_rng(0).standard_normal((3, 7, 5)).astype(np.float32)
  expected = np.mean((x[:, 1:] - x[:, :-1]).astype(np.float64)**2)
  np.testing.assert_allclose(losses.inertia_penalty(jnp.asarray(x)), expected, rtol=1e-5)
  assert float(losses.inertia_penalty(jnp.ones((2, 4, 3)))) == 0.0


def test_inertia_coefficient():
  golden = (1 + math.sqrt(5)) / 2
  assert losses.inertia_coefficient(0.1, 0.05) == pytest.approx(0.1 * 0.05 * math.log(golden),
                                                               rel=1e-12)
  assert losses.inertia_coefficient(0.1, 0.05) == pytest.approx(0.0024061, abs=1e-7)


def test_loss_fn_terms(tiny_model):
  model, params = tiny_model
  windows = jnp.asarray(np.random.default_rng(1).integers(0, V, (3, 9)), jnp.int32)
  coefficient = 0.37  # Large, so a wrong weighting would show.

  @jax.jit
  def run(params, windows):
    carry = models.initial_state(model.config, windows.shape[0])
    logits, top, _ = model.apply({'params': params}, windows[:, :-1], carry)
    return losses.loss_fn(params, model, windows, coefficient), logits, top
  (total, metrics), logits, top = jax.device_get(run(params, windows))
  targets = np.asarray(windows[:, 1:])
  log_p = _log_softmax(logits)
  ce = -np.mean(np.take_along_axis(log_p, targets[..., None], -1))
  energy = np.mean(np.diff(np.asarray(top, np.float64), axis=1)**2)
  assert energy > 0
  np.testing.assert_allclose(metrics['ce'], ce, rtol=1e-5)
  np.testing.assert_allclose(metrics['energy'], energy, rtol=1e-4)
  np.testing.assert_allclose(total, ce + coefficient * energy, rtol=1e-5)


def test_model_config_from_rejects_bad_model_config(tiny_config):
  config = tiny_config('original')
  assert config_schema.model_config_from(config.model, 17).vocab_size == 17
  config.model.variant = 'foo'
  with pytest.raises(ValueError, match='foo'):
    config_schema.model_config_from(config.model, 17)
  config = tiny_config('original')
  config.model.hidden = 3
  with pytest.raises(ValueError, match='hidden'):
    config_schema.model_config_from(config.model, 17)


def test_training_reduces_loss(tiny_config, small_corpus_path):
  config = tiny_config('original')
  config.train.batch_size = 4
  config.train.learning_rate = 2e-2
  with open(small_corpus_path) as f:
    text = f.read()
  vocab = input_pipeline.CharVocab.from_texts(text)
  tokens = jnp.asarray(vocab.encode(text))
  model = models.LandauerLM(config_schema.model_config_from(config.model, vocab.size))
  optimizer = train.make_optimizer(config.train)
  state = train.init_train_state(model.config, optimizer, config.seed)
  step_fn = train.make_train_step(config, model, optimizer)
  losses = []
  first = state
  for _ in range(150):
    state, metrics = step_fn(state, tokens)
    losses.append(metrics['loss'])
  # The state is donated: the step wrote into the first state's buffers.
  assert all(leaf.is_deleted() for leaf in jax.tree.leaves(first['params']))
  losses = np.asarray(jax.device_get(losses))
  assert int(state['step']) == 150
  assert np.all(np.isfinite(losses))
  assert losses[0] > 0.8 * math.log(vocab.size)  # Starts near chance.
  assert np.mean(losses[-10:]) < 0.6 * losses[0], losses  # ~2.95 -> ~1.35 nats.


def test_train_and_evaluate_writes_outputs(run_a, small_corpus_path):
  config, workdir, result = run_a
  records = _read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  train_lines, eval_lines = _train_lines(records), _eval_lines(records)
  assert sorted(train_lines) == [1, 2, 3, 4, 5, 6]
  assert len(records) == 6  # One line per logged step; evaluation steps carry val_* too.
  for r in train_lines.values():
    assert math.isfinite(r['train_loss']) and r['train_loss'] > 0
  assert sorted(eval_lines) == [3, 6]
  for r in eval_lines.values():
    assert math.isfinite(r['val_ce']) and r['val_ce'] > 0
    assert r['chars_per_sec'] > 0
    assert r['val_bpc'] == pytest.approx(r['val_ce'] / math.log(2))
  with open(small_corpus_path) as f:
    text = f.read()
  assert eval_lines[6]['val_chars'] == len(text) - int(len(text) * 0.9) - 1
  assert result['val_ce'] == eval_lines[6]['val_ce']

  with open(os.path.join(workdir, 'config.json')) as f:
    meta = json.load(f)
  assert meta['model']['variant'] == 'original'
  assert meta['model']['hidden_dim'] == config.model.hidden_dim
  assert meta['vocab']['chars'] == ''.join(sorted(set(text)))
  assert meta['config']['train']['num_steps'] == 6
  assert sorted(os.listdir(checkpoints.checkpoint_dir(workdir))) == ['3', '6']
  loaded = checkpoints.load_for_inference(workdir)
  assert loaded.step == 6 and loaded.vocab.chars == meta['vocab']['chars']


def test_resume_equals_uninterrupted_run(run_a, tiny_config, tmp_path, monkeypatch):
  _, workdir_a, _ = run_a
  workdir_b = str(tmp_path / 'b')
  steps_run = []
  make_train_step = train.make_train_step

  def counting_make_train_step(*args, **kwargs):
    step_fn = make_train_step(*args, **kwargs)

    def counted(state, tokens):
      steps_run.append(int(state['step']) + 1)
      return step_fn(state, tokens)
    return counted
  monkeypatch.setattr(train, 'make_train_step', counting_make_train_step)

  config = tiny_config('original')
  config.train.num_steps = 3
  train.train_and_evaluate(config, workdir_b)
  config.train.num_steps = 6
  train.train_and_evaluate(config, workdir_b)
  assert steps_run == [1, 2, 3, 4, 5, 6]  # The second run started from step 3.

  records_a = _read_jsonl(os.path.join(workdir_a, 'metrics.jsonl'))
  records_b = _read_jsonl(os.path.join(workdir_b, 'metrics.jsonl'))
  assert [r['step'] for r in records_b] == [r['step'] for r in records_a]
  train_a, train_b = _train_lines(records_a), _train_lines(records_b)
  for step in (4, 5, 6):
    for key in ('train_loss', 'train_ce', 'energy', 'grad_norm'):
      assert train_b[step][key] == train_a[step][key], (step, key)
  assert _eval_lines(records_b)[6]['val_ce'] == _eval_lines(records_a)[6]['val_ce']
  params_a = checkpoints.load_for_inference(workdir_a).params
  params_b = checkpoints.load_for_inference(workdir_b).params
  jax.tree_util.tree_map(np.testing.assert_array_equal, params_b, params_a)


@pytest.fixture(scope='module')
def nan_run(tiny_config, tmp_path_factory):
  """A run whose loss turns NaN at step 4 (after the step-3 checkpoint).

  Returns (workdir, the error, what loading the latest checkpoint gave right after
  the error: a step or an exception).
  """
  workdir = str(tmp_path_factory.mktemp('nan_run'))
  train_step = train.train_step

  def nan_from_step_4(state, tokens, **kwargs):
    new_state, metrics = train_step(state, tokens, **kwargs)
    metrics['loss'] = jnp.where(new_state['step'] >= 4, jnp.nan, metrics['loss'])
    return new_state, metrics
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(train, 'train_step', nan_from_step_4)
    with pytest.raises(FloatingPointError) as error:
      train.train_and_evaluate(tiny_config('original'), workdir)
  try:
    immediately = checkpoints.load_for_inference(workdir).step
  except (FileNotFoundError, ValueError) as e:
    immediately = e
  return workdir, error.value, immediately


def test_non_finite_loss_stops_training(nan_run, run_a):
  workdir, error, _ = nan_run
  assert 'Training stopped at step 4: non-finite loss' in str(error)
  assert 'the last good checkpoint, step 3, is kept' in str(error)
  assert checkpoints.checkpoint_dir(workdir) in str(error)
  records = _read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  assert max(r['step'] for r in records) == 3
  loaded = checkpoints.load_for_inference(workdir)  # Saves are synchronous.
  assert loaded.step == 3
  expected = checkpoints.load_for_inference(run_a[1], step=3).params  # Same 3 steps.
  jax.tree_util.tree_map(
      lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7),
      loaded.params, expected)


def test_last_good_checkpoint_is_committed_when_the_error_is_raised(nan_run):
  _, _, immediately = nan_run
  assert immediately == 3


def _brute_force_ce(model, params, tokens_N, reset_every):
  """Mean next-token CE over the split, stepping token by token from a zero state

  that is reset before every `reset_every`-th input (float64 log-softmax in NumPy).
  """
  inputs = jnp.asarray(tokens_N[:-1])

  @jax.jit
  def run(params, inputs, reset_every):
    zero = models.initial_state(model.config, 1)

    def body(carry, t_and_token):
      t, token = t_and_token
      carry = jax.tree_util.tree_map(
          lambda c, z: jnp.where(t % reset_every == 0, z, c), carry, zero)
      carry, logits, _ = model.apply({'params': params}, carry, token[None],
                                     method=models.LandauerLM.step)
      return carry, logits[0]
    return jax.lax.scan(body, zero, (jnp.arange(inputs.shape[0]), inputs))[1]
  log_p = _log_softmax(run(params, inputs, reset_every))
  return -np.mean(log_p[np.arange(len(tokens_N) - 1), tokens_N[1:]])


@pytest.mark.parametrize('num_streams,window', [(1, 8), (3, 4)])
def test_evaluate_matches_brute_force(tiny_model, num_streams, window):
  model, params = tiny_model
  tokens = np.random.default_rng(2).integers(0, V, 46).astype(np.int32)
  n = len(tokens) - 1
  # Stream length: ceil(n / S) rounded up to whole windows (eval_streams' layout).
  stream_len = -(-(-(-n // num_streams)) // window) * window
  carried = evaluation.evaluate(params, model, tokens, num_streams=num_streams, window=window)
  reset = evaluation.evaluate(params, model, tokens, num_streams=num_streams, window=window,
                         carry_state=False)
  assert carried['chars'] == reset['chars'] == n
  assert carried['bpc'] == pytest.approx(carried['ce'] / math.log(2))
  assert abs(carried['ce'] - reset['ce']) > 1e-3
  np.testing.assert_allclose(
      carried['ce'], _brute_force_ce(model, params, tokens, stream_len), rtol=1e-5)
  np.testing.assert_allclose(
      reset['ce'], _brute_force_ce(model, params, tokens, window), rtol=1e-5)


def test_old_spellings_still_train_and_resume(tiny_config, tmp_path):
  """variant 'seed' and train.temperature (renamed 'original', inertia_temperature):
  a config in the old spelling trains, and resumes a run saved in the new one."""
  config = tiny_config('original')
  config.train.num_steps = 3
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  old = tiny_config('seed').to_dict()
  old['train']['temperature'] = old['train'].pop('inertia_temperature')
  old['train']['num_steps'] = 6
  result = train.train_and_evaluate(ml_collections.ConfigDict(old), workdir)
  assert math.isfinite(result['val_ce'])
  assert config_schema.canonical_config(old).model.variant == 'original'
  both = tiny_config('original')
  both.train.temperature = 0.05
  with pytest.raises(errors.ConfigError, match='old name of config.train.inertia_temperature'):
    config_schema.canonical_config(both)


def test_canonical_run_record_renames_old_keys():
  saved = {'config': {'train.temperature': 0.05, 'model.variant': 'seed', 'seed': 0},
           'data_fingerprint': 'x'}
  assert config_schema.canonical_run_record(saved)['config'] == {
      'train.inertia_temperature': 0.05, 'model.variant': 'original', 'seed': 0,
      'profile.steps': []}  # A key added since (LATER_KEYS), at its default.
