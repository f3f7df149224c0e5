"""What a run guarantees (docs/RELIABILITY.md), for both trainers, in-process.

* A run killed at any point (before a checkpoint, between orbax's commit and
  the manifest, right after a save, in the middle of a metrics line, in the
  middle of orbax's save) resumes to exactly the uninterrupted run: the same
  metrics lines (no line lost, none duplicated) and the same parameters.
* A corrupt newest checkpoint is skipped: training falls back to the newest
  one that verifies.
* A non-finite state is never saved, also when the update that makes it lands
  on a save step or the last step; a finite but exploding loss is stopped;
  the message names the checkpoint that is really kept.
* SIGTERM or SIGINT (a real signal, sent to this process in the middle of a
  step or of a save) stops the run after a verified save of the step in
  flight, and the resumed run equals the uninterrupted one.
* Resuming with another model, setting or corpus is refused, listing the
  changed keys, and leaves the workdir as it was; re-running a finished run
  keeps its results.

Kills are simulated by raising `Killed` (a BaseException, like a signal) at
the point under test; tests/test_cli.py has a real kill -9.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import small_corpus
from field_fixtures import char_corpus
from fieldjax import checkpoints as field_checkpoints
from fieldjax import field as field_lib
from fieldjax import model as field_model
from fieldjax import config_schema as field_schema
from fieldjax import hebbian
from fieldjax import train as field_train
from landauerjax import checkpoints
from landauerjax import train
from landauerjax.core import checkpoints as core_checkpoints
from landauerjax.core import errors
from landauerjax.core import loop as core_loop
from landauerjax.core import metrics as core_metrics
from landauerjax.core import preemption


class Killed(BaseException):
  """Stands for SIGKILL: no `except Exception` catches it."""


def _lines(workdir: str) -> list[dict]:
  """metrics.jsonl without its timing fields (they differ between any two runs)."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  timing = ('chars_per_sec', 'tokens_per_sec')
  return [{k: v for k, v in r.items() if k not in timing} for r in records]


def _snapshot(workdir: str) -> dict[str, str]:
  """sha256 of every file of a workdir but the lock (the lock file records its holder)."""
  out = {}
  for root, _, names in os.walk(workdir):
    for name in names:
      path = os.path.join(root, name)
      if name != '.lock':
        out[os.path.relpath(path, workdir)] = hashlib.sha256(
            open(path, 'rb').read()).hexdigest()
  return out


def _kill_on_call(monkeypatch, owner, name, call, *, after=False):
  """Makes owner.name raise Killed on its `call`-th call (before or after running)."""
  original = getattr(owner, name)
  calls = []

  def wrapper(*args, **kwargs):
    calls.append(1)
    if len(calls) == call and not after:
      raise Killed(name)
    result = original(*args, **kwargs)
    if len(calls) == call and after:
      raise Killed(name)
    return result
  monkeypatch.setattr(owner, name, wrapper)


def _signal_on_call(monkeypatch, owner, name, call, signum):
  """Makes owner.name send `signum` to this process during its `call`-th call."""
  original = getattr(owner, name)
  calls = []

  def wrapper(*args, **kwargs):
    calls.append(1)
    if len(calls) == call:
      os.kill(os.getpid(), signum)
    return original(*args, **kwargs)
  monkeypatch.setattr(owner, name, wrapper)


# Where a stop signal arrives: (object, attribute, which call). Each is in step 3
# after the loop's look at the signals (reading step 3's metrics back; step 3's
# save), so the run stops after step 4, with a save there that no cadence asked for.
SIGNAL_POINTS = {
    'in_a_step': (core_loop, '_to_host', 3),
    'in_a_save': (core_checkpoints, 'write_manifest', 1),
}


def _torn_line(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl'), 'a') as f:
    f.write('{"step": 4, "train_lo')


def _orbax_leftover(workdir):
  os.makedirs(os.path.join(workdir, 'checkpoints', '6.orbax-checkpoint-tmp-1700000000',
                           'state'))


# Where to kill: (object, attribute, which call, after it ran?, damage to add).
KILL_POINTS = {
    'before_the_second_save': (core_checkpoints.CheckpointStore, 'save', 2, False, None),
    'between_commit_and_manifest': (core_checkpoints, 'write_manifest', 2, False, None),
    'right_after_the_first_save': (core_checkpoints.CheckpointStore, 'save', 1, True, None),
    'in_a_metrics_line': (core_checkpoints.CheckpointStore, 'save', 1, True, _torn_line),
    'in_an_orbax_save': (core_checkpoints.CheckpointStore, 'save', 1, True, _orbax_leftover),
}


# ---------------------------------------------------------------------------
# The Landauer trainer (tiny_config: 6 steps, eval and checkpoint every 3).
# ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def landauer_reference(landauer_run):
  """(workdir, result) of the uninterrupted run (conftest); tests change only copies."""
  return landauer_run


@pytest.mark.parametrize('point', sorted(KILL_POINTS))
def test_landauer_kill_then_resume_equals_the_uninterrupted_run(
    point, landauer_reference, tiny_config, tmp_path, monkeypatch):
  owner, name, call, after, damage = KILL_POINTS[point]
  workdir = str(tmp_path / 'run')
  with monkeypatch.context() as patch:
    _kill_on_call(patch, owner, name, call, after=after)
    with pytest.raises(Killed):
      train.train_and_evaluate(tiny_config('original'), workdir)
  if damage:
    damage(workdir)
  result = train.train_and_evaluate(tiny_config('original'), workdir)
  reference, expected = landauer_reference
  assert result == expected
  assert _lines(workdir) == _lines(reference)
  assert core_checkpoints.CheckpointStore(workdir).steps() == [3, 6]
  jax.tree.map(np.testing.assert_array_equal, checkpoints.load_for_inference(workdir).params,
               checkpoints.load_for_inference(reference).params)


@pytest.mark.parametrize('point,signum', [('in_a_step', signal.SIGTERM),
                                          ('in_a_save', signal.SIGINT)])
def test_landauer_stop_signal_saves_the_step_then_resume_equals_the_uninterrupted_run(
    point, signum, landauer_reference, tiny_config, tmp_path, monkeypatch):
  workdir = str(tmp_path / 'run')
  reference, expected = landauer_reference
  with monkeypatch.context() as patch:
    _signal_on_call(patch, *SIGNAL_POINTS[point], signum)
    with pytest.raises(preemption.Preempted) as info:
      train.train_and_evaluate(tiny_config('original'), workdir)
  assert info.value.step == 4 and info.value.reason == signal.Signals(signum).name
  assert core_checkpoints.CheckpointStore(workdir).steps() == [3, 4]
  core_checkpoints.CheckpointStore(workdir).verify(4)
  assert _lines(workdir) == _lines(reference)[:4]  # Step 4's line is written, once.
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
  result = train.train_and_evaluate(tiny_config('original'), workdir)  # The lock is free.
  assert result == expected
  assert _lines(workdir) == _lines(reference)
  jax.tree.map(np.testing.assert_array_equal, checkpoints.load_for_inference(workdir).params,
               checkpoints.load_for_inference(reference).params)


def test_landauer_resumes_from_an_older_checkpoint_when_the_newest_is_corrupt(
    landauer_reference, tiny_config, tmp_path, caplog):
  caplog.set_level(logging.INFO)
  reference, _ = landauer_reference
  workdir = str(tmp_path / 'run')
  config = tiny_config('original')
  config.train.num_steps = 9  # Extending a run is allowed.
  shutil.copytree(reference, workdir)
  state_dir = os.path.join(workdir, 'checkpoints', '6', 'state')
  chunk = max((os.path.join(r, n) for r, _, ns in os.walk(state_dir) for n in ns),
              key=os.path.getsize)
  with open(chunk, 'r+b') as f:
    f.seek(os.path.getsize(chunk) // 2)
    f.write(b'\x00\x01\x02')
  train.train_and_evaluate(config, workdir)
  messages = [r.getMessage() for r in caplog.records]
  assert any('step 6 is unusable' in m and 'falling back to step 3' in m for m in messages)
  assert any('Resumed from step 3' in m for m in messages)
  assert os.listdir(os.path.join(workdir, 'checkpoints_set_aside'))[0].startswith('6-')
  assert [r['step'] for r in _lines(workdir) if 'train_loss' in r] == list(range(1, 10))


def _nan_params_at(step_with_nan: int, *, loss: float | None = None):
  """A train_step whose update makes the parameters NaN at one step (metrics finite),
  or whose reported loss is `loss` from that step on."""
  original = train.train_step

  def patched(state, tokens, **kwargs):
    new_state, metrics = original(state, tokens, **kwargs)
    hit = new_state['step'] == step_with_nan
    if loss is None:
      new_state = {**new_state, 'params': jax.tree.map(
          lambda p: jnp.where(hit, jnp.nan, p), new_state['params'])}
    else:
      metrics = {**metrics, 'loss': jnp.where(new_state['step'] >= step_with_nan, loss,
                                              metrics['loss'])}
    return new_state, metrics
  return patched


@pytest.mark.parametrize('bad_step,stopped,kept', [
    (3, 3, None),  # The update of a save step: its state is checked before saving.
    (6, 6, 3),  # The last step.
    (5, 6, 3),  # Between saves: the next step's loss is NaN.
])
def test_landauer_never_saves_a_non_finite_state(bad_step, stopped, kept, tiny_config,
                                                 tmp_path, monkeypatch, landauer_reference):
  workdir = str(tmp_path / 'run')
  monkeypatch.setattr(train, 'train_step', _nan_params_at(bad_step))
  with pytest.raises(errors.TrainingStopped) as info:
    train.train_and_evaluate(tiny_config('original'), workdir)
  message = str(info.value)
  assert f'Training stopped at step {stopped}' in message
  if kept is None:
    assert 'no checkpoint had been saved yet' in message
    assert core_checkpoints.CheckpointStore(workdir).steps() == []
  else:
    assert f'the last good checkpoint, step {kept}, is kept' in message
    assert core_checkpoints.CheckpointStore(workdir).steps() == [kept]
    jax.tree.map(np.testing.assert_array_equal,
                 checkpoints.load_for_inference(workdir).params,
                 checkpoints.load_for_inference(landauer_reference[0], step=kept).params)
  text = open(os.path.join(workdir, 'metrics.jsonl')).read()
  assert 'NaN' not in text
  for line in text.splitlines():
    json.loads(line)  # Valid JSON, every line.


def test_landauer_stops_a_finite_but_exploding_loss(tiny_config, tmp_path, monkeypatch):
  workdir = str(tmp_path / 'run')
  monkeypatch.setattr(train, 'train_step', _nan_params_at(5, loss=4.5e32))
  with pytest.raises(errors.TrainingStopped, match='diverged') as info:
    train.train_and_evaluate(tiny_config('original'), workdir)
  assert 'step 5' in str(info.value) and 'step 3, is kept' in str(info.value)
  assert core_checkpoints.CheckpointStore(workdir).steps() == [3]
  config = tiny_config('original')
  config.train.divergence_factor = 0.0  # Off: the same run goes through.
  train.train_and_evaluate(config, str(tmp_path / 'unguarded'))


def test_landauer_refuses_nan_in_a_restored_checkpoint(landauer_reference, tmp_path):
  """NaN written by someone else, with a valid manifest: refused on load, with fallback."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(landauer_reference[0], workdir)
  store = core_checkpoints.CheckpointStore(workdir)
  loaded = checkpoints.load_for_inference(workdir)
  params = jax.tree.map(lambda p: p.at[..., 0].set(jnp.nan) if p.ndim else p, loaded.params)
  shutil.rmtree(store.step_dir(6))
  meta = json.load(open(os.path.join(workdir, 'config.json')))
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  ocp.Checkpointer(ocp.CompositeCheckpointHandler()).save(
      store.step_dir(6), args=ocp.args.Composite(
          state=ocp.args.StandardSave({'params': params, 'step': 6}),
          meta=ocp.args.JsonSave(meta)))
  core_checkpoints.write_manifest(store.step_dir(6))
  assert checkpoints.load_for_inference(workdir).step == 3
  with pytest.raises(errors.CheckpointError, match='non-finite values'):
    checkpoints.load_for_inference(workdir, step=6)


@pytest.mark.parametrize('change,keys', [
    ({'model.phase_scaling': 3.0}, ['model.phase_scaling']),
    ({'seed': 1, 'train.learning_rate': 0.1}, ['seed', 'train.learning_rate']),
    ({'model.hidden_dim': 16}, ['model.hidden_dim']),
])
def test_landauer_resume_with_other_settings_is_refused_and_harms_nothing(
    change, keys, landauer_reference, tiny_config, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(landauer_reference[0], workdir)
  before = _snapshot(workdir)
  config = tiny_config('original')
  config.train.num_steps = 9
  for key, value in change.items():
    section, _, leaf = key.rpartition('.')
    setattr(config[section] if section else config, leaf, value)
  with pytest.raises(errors.WorkdirError) as info:
    train.train_and_evaluate(config, workdir)
  for key in keys:
    assert key in str(info.value)
  assert _snapshot(workdir) == before
  if 'model.hidden_dim' in keys:  # Other shapes: refused without offering the flag...
    assert 'no setting resumes it' in str(info.value)
    assert '--allow_config_change' not in str(info.value)
    with pytest.raises(errors.WorkdirError, match='no setting resumes it'):  # ... or with it.
      train.train_and_evaluate(config, workdir, allow_config_change=True)
    assert _snapshot(workdir) == before
    return
  train.train_and_evaluate(config, workdir, allow_config_change=True)  # The explicit flag.
  assert max(r['step'] for r in _lines(workdir)) == 9


def test_landauer_resume_on_another_corpus_is_refused(
    landauer_reference, tiny_config, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(landauer_reference[0], workdir)
  other = tmp_path / 'other.txt'
  other.write_text(small_corpus(seed=1))  # Same characters, other text.
  config = tiny_config('original')
  config.data.local_path = str(other)
  with pytest.raises(errors.WorkdirError, match='data: sha256'):
    train.train_and_evaluate(config, workdir)


def test_landauer_finished_run_is_kept(landauer_reference, tiny_config, tmp_path, caplog):
  caplog.set_level(logging.INFO)
  workdir = str(tmp_path / 'run')
  shutil.copytree(landauer_reference[0], workdir)
  before = _snapshot(workdir)
  result = train.train_and_evaluate(tiny_config('original'), workdir)
  assert result == {k: v for k, v in landauer_reference[1].items()}
  assert _snapshot(workdir) == before
  assert any('nothing to do' in r.getMessage() for r in caplog.records)


def test_landauer_refuses_a_second_writer(landauer_reference, tiny_config, tmp_path):
  from landauerjax.core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / 'run')
  with workdir_lib.WorkdirLock(workdir):
    with pytest.raises(errors.WorkdirError, match=f'in use by pid {os.getpid()}'):
      train.train_and_evaluate(tiny_config('original'), workdir)
  assert os.listdir(workdir) == ['.lock']


def test_landauer_refuses_a_field_lm_workdir(field_reference, tiny_config, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(field_reference[0], workdir)
  with pytest.raises(errors.CheckpointError, match='field LM checkpoint'):
    train.train_and_evaluate(tiny_config('original'), workdir)
  with pytest.raises(errors.CheckpointError, match='field LM checkpoint'):
    checkpoints.load_for_inference(workdir)


# ---------------------------------------------------------------------------
# The field trainer (6 steps, eval and checkpoint every 3).
# ---------------------------------------------------------------------------


FIELD_MODEL = field_model.ModelConfig(
    vocab_size=2, embed_dim=8, lags=3, lattice_dim=32,
    field=field_lib.FieldConfig(chunk=8, window=8, num_steps=1))


@pytest.fixture(scope='module')
def field_data():
  return char_corpus(FIELD_MODEL)


def _field_train(field_data, workdir, **overrides):
  cfg, train_tokens, val_tokens = field_data
  cfg = overrides.pop('cfg', cfg)
  allow = overrides.pop('allow_config_change', False)
  resume_step = overrides.pop('resume_step', None)
  settings = dict(num_steps=6, batch_size=4, seq_len=8, log_every=1, eval_every=3,
                  checkpoint_every=3, eval_stride=8, eval_max_tokens=64, eval_batch_size=16,
                  perturbation_schedule='{"0": "levy", "4": "beta"}')
  settings.update(overrides)
  return field_train.train(cfg, field_schema.TrainConfig(**settings),
                           train_tokens=train_tokens, validation_tokens=val_tokens,
                           workdir=str(workdir), meta={'dataset': 'test'},
                           allow_config_change=allow, run_info={'note': 'test'},
                           resume_step=resume_step)


@pytest.fixture(scope='module')
def field_reference(field_data, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('field_reference'))
  return workdir, _field_train(field_data, workdir)


@pytest.mark.parametrize('point', sorted(KILL_POINTS))
def test_field_kill_then_resume_equals_the_uninterrupted_run(
    point, field_reference, field_data, tmp_path, monkeypatch):
  owner, name, call, after, damage = KILL_POINTS[point]
  workdir = str(tmp_path / 'run')
  with monkeypatch.context() as patch:
    _kill_on_call(patch, owner, name, call, after=after)
    with pytest.raises(Killed):
      _field_train(field_data, workdir)
  if damage:
    damage(workdir)
  result = _field_train(field_data, workdir)
  reference, expected = field_reference
  assert result == expected
  assert _lines(workdir) == _lines(reference)
  assert json.load(open(os.path.join(workdir, 'run.json')))['final'] == expected
  _, params, _, _ = field_checkpoints.load(workdir)
  _, params_ref, _, _ = field_checkpoints.load(reference)
  jax.tree.map(np.testing.assert_array_equal, params, params_ref)


@pytest.mark.parametrize('point,signum', [('in_a_save', signal.SIGTERM),
                                          ('in_a_step', signal.SIGINT)])
def test_field_stop_signal_saves_the_step_then_resume_equals_the_uninterrupted_run(
    point, signum, field_reference, field_data, tmp_path, monkeypatch):
  workdir = str(tmp_path / 'run')
  reference, expected = field_reference
  with monkeypatch.context() as patch:
    _signal_on_call(patch, *SIGNAL_POINTS[point], signum)
    with pytest.raises(preemption.Preempted) as info:
      _field_train(field_data, workdir)
  assert info.value.step == 4 and info.value.reason == signal.Signals(signum).name
  assert core_checkpoints.CheckpointStore(workdir).steps() == [3, 4]
  core_checkpoints.CheckpointStore(workdir).verify(4)
  assert _lines(workdir) == _lines(reference)[:4]
  result = _field_train(field_data, workdir)
  assert result == expected
  assert _lines(workdir) == _lines(reference)
  _, params, _, _ = field_checkpoints.load(workdir)
  _, params_ref, _, _ = field_checkpoints.load(reference)
  jax.tree.map(np.testing.assert_array_equal, params, params_ref)


def test_field_never_saves_a_non_finite_state(field_data, tmp_path, monkeypatch):
  original = hebbian.train_step

  def nan_at_6(params, tokens, step, *args):
    params, metrics = original(params, tokens, step, *args)
    if step == 6:
      params = {**params, 'crystal': params['crystal'].at[0, 0].set(jnp.nan)}
    return params, metrics
  monkeypatch.setattr(hebbian, 'train_step', nan_at_6)
  workdir = str(tmp_path / 'run')
  with pytest.raises(errors.TrainingStopped, match='crystal') as info:
    _field_train(field_data, workdir)
  assert 'step 6' in str(info.value) and 'step 3, is kept' in str(info.value)
  assert core_checkpoints.CheckpointStore(workdir).steps() == [3]
  assert not os.path.exists(os.path.join(workdir, 'run.json'))


def test_field_stops_an_exploding_ce(field_data, tmp_path, monkeypatch):
  original = hebbian.train_step

  def exploding(params, tokens, step, *args):
    params, metrics = original(params, tokens, step, *args)
    return params, {**metrics, 'ce': metrics['ce'] * (1e6 if step >= 5 else 1.0)}
  monkeypatch.setattr(hebbian, 'train_step', exploding)
  with pytest.raises(errors.TrainingStopped, match='diverged'):
    _field_train(field_data, tmp_path / 'run')


def test_field_resume_with_other_settings_is_refused(field_reference, field_data, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(field_reference[0], workdir)
  before = _snapshot(workdir)
  cfg = field_data[0]
  for overrides, key in (({'seed': 3}, 'train.seed'),
                         ({'cfg': dataclasses.replace(cfg, feature_norm=4.0)},
                          'model.feature_norm'),
                         ({'cfg': dataclasses.replace(cfg, hebbian_rule='plain')},
                          'model.hebbian_rule'),
                         ({'cfg': dataclasses.replace(cfg, lattice_dim=64)},
                          'model.lattice_dim')):
    with pytest.raises(errors.WorkdirError, match=key):
      _field_train(field_data, workdir, num_steps=9, **overrides)
    assert _snapshot(workdir) == before
  _field_train(field_data, workdir, num_steps=9, seed=3, allow_config_change=True)


def test_field_resume_on_other_tokens_is_refused(field_reference, field_data, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(field_reference[0], workdir)
  cfg, train_tokens, val_tokens = field_data
  with pytest.raises(errors.WorkdirError, match='data: sha256'):
    _field_train((cfg, train_tokens[::-1].copy(), val_tokens), workdir, num_steps=9)


def test_field_finished_run_keeps_its_results(field_reference, field_data, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(field_reference[0], workdir)
  before = _snapshot(workdir)
  assert _field_train(field_data, workdir) == field_reference[1]
  assert _snapshot(workdir) == before
  assert json.load(open(os.path.join(workdir, 'run.json')))['final'] == field_reference[1]


def test_field_refuses_a_landauer_workdir(landauer_reference, field_data, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(landauer_reference[0], workdir)
  with pytest.raises(errors.CheckpointError, match='Landauer LM checkpoint'):
    _field_train(field_data, workdir)
  with pytest.raises(errors.CheckpointError, match='Landauer LM checkpoint'):
    field_checkpoints.load(workdir)


def test_landauer_resume_step_rolls_back_keeping_the_newer_steps(
    landauer_reference, tiny_config, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(landauer_reference[0], workdir)
  assert train.train_and_evaluate(tiny_config('original'), workdir, resume_step=3) == \
      landauer_reference[1]
  assert _lines(workdir) == _lines(landauer_reference[0])  # Steps 4-6 once each.
  (moved,) = os.listdir(os.path.join(workdir, 'checkpoints_set_aside'))
  assert moved.startswith('6-')
  with pytest.raises(errors.CheckpointError, match='No checkpoint of step 4'):
    train.train_and_evaluate(tiny_config('original'), workdir, resume_step=4)


def test_field_resume_step_rolls_back(field_reference, field_data, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(field_reference[0], workdir)
  assert _field_train(field_data, workdir, resume_step=3) == field_reference[1]
  assert _lines(workdir) == _lines(field_reference[0])


def test_landauer_checks_the_loss_of_the_state_it_saves(tiny_config, tmp_path,
                                                        landauer_reference):
  """A blow-up on a save step gives finite but useless parameters: caught before saving."""
  config = tiny_config('original')
  config.train.learning_rate = 1e30
  config.train.num_steps = 1
  config.checkpoint.every = config.eval.every = 1
  workdir = str(tmp_path / 'run')
  with pytest.raises(errors.TrainingStopped, match='loss of the updated parameters') as info:
    train.train_and_evaluate(config, workdir)
  assert 'step 1' in str(info.value) and 'no checkpoint had been saved yet' in str(info.value)
  assert core_checkpoints.CheckpointStore(workdir).steps() == []
  # Resumed with that learning rate and keep=1, the good checkpoints stay.
  resumed = str(tmp_path / 'resumed')
  shutil.copytree(landauer_reference[0], resumed)
  config = tiny_config('original')
  config.train.learning_rate = 1e30
  config.train.num_steps = 9
  config.checkpoint.every, config.checkpoint.keep = 1, 1
  with pytest.raises(errors.TrainingStopped, match='step 6, is kept'):
    train.train_and_evaluate(config, resumed, allow_config_change=True)
  assert core_checkpoints.CheckpointStore(resumed).steps() == [3, 6]  # Nothing pruned.


def test_landauer_cosine_runs_cannot_be_extended_silently(landauer_reference, tiny_config,
                                                          tmp_path):
  config = tiny_config('original')
  config.train.schedule = 'cosine'
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  config.train.num_steps = 9
  with pytest.raises(errors.WorkdirError, match='the cosine learning-rate schedule depends'):
    train.train_and_evaluate(config, workdir)


def test_field_checks_the_ce_of_the_state_it_saves(field_data, tmp_path):
  cfg = dataclasses.replace(field_data[0], eta=1e6)
  workdir = str(tmp_path / 'run')
  with pytest.raises(errors.TrainingStopped) as info:
    _field_train(field_data, workdir, cfg=cfg, checkpoint_every=1, eval_every=100)
  assert 'step 1' in str(info.value) and 'no checkpoint had been saved yet' in str(info.value)
  assert core_checkpoints.CheckpointStore(workdir).steps() == []


def test_field_run_json_is_rebuilt_when_a_kill_left_it_missing_or_stale(
    field_reference, field_data, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(field_reference[0], workdir)
  os.remove(os.path.join(workdir, 'run.json'))  # Killed between the last save and run.json.
  assert _field_train(field_data, workdir) == field_reference[1]
  rebuilt = json.load(open(os.path.join(workdir, 'run.json')))
  assert rebuilt['final'] == field_reference[1] and rebuilt['step'] == 6
  stale = str(tmp_path / 'stale')
  _field_train(field_data, stale, num_steps=3)
  run_3 = json.load(open(os.path.join(stale, 'run.json')))
  with pytest.MonkeyPatch.context() as patch:  # Extended to 6, killed before run.json.
    _kill_on_call(patch, field_train.workdir_lib, 'write_json', 1)
    with pytest.raises(Killed):
      _field_train(field_data, stale)
  assert json.load(open(os.path.join(stale, 'run.json'))) == run_3  # Stale: step 3.
  assert _field_train(field_data, stale) == field_reference[1]
  assert json.load(open(os.path.join(stale, 'run.json')))['step'] == 6


def test_field_schedule_spellings_are_one_setting(field_reference, field_data, tmp_path):
  """Respelled (key order, spacing), the schedule is the same setting: the run goes on
  from its checkpoint of step 6 to 7. Another schedule is refused: what is compared is
  the schedule, not its spelling."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(field_reference[0], workdir)
  with pytest.raises(errors.WorkdirError, match='perturbation_schedule'):
    _field_train(field_data, workdir, num_steps=7,
                 perturbation_schedule='{"0": "levy", "4": "adaptive"}')
  _field_train(field_data, workdir, num_steps=7,
               perturbation_schedule='{"4":"beta","0":"levy"}')  # Same schedule, respelled.
  records = core_metrics.read_metrics(core_metrics.metrics_path(workdir))
  assert [r['step'] for r in records if 'train_loss' in r] == list(range(1, 8))
  assert json.load(open(os.path.join(workdir, 'run.json')))['step'] == 7
