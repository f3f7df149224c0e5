"""config.profile.steps: a jax.profiler trace of chosen steps (landauerjax.core.loop), for
both trainers. The trace's steps are read from its Perfetto file (the 'train' step
annotations and their step_num); a traced run's metrics equal an untraced one's."""

from __future__ import annotations

import glob
import gzip
import json
import logging
import os

import jax
import jax.numpy as jnp
import pytest

from experiments.configs import field_tiny
from field_fixtures import shrunk_config
from fieldjax import config_schema as field_schema
from fieldjax import train as field_train
from landauerjax import config_schema
from landauerjax import train
from landauerjax.core import checkpoints
from landauerjax.core import errors
from landauerjax.core import guards
from landauerjax.core import loop
from landauerjax.core import metrics
from landauerjax.core import workdir as workdir_lib


def traced_steps(workdir: str) -> list[int]:
  """The step numbers annotated 'train' in WORKDIR/profile's one trace (its xplane.pb, for
  TensorBoard/xprof, names them too)."""
  runs = glob.glob(os.path.join(workdir, 'profile', 'plugins', 'profile', '*'))
  assert len(runs) == 1, runs
  xplanes = glob.glob(os.path.join(runs[0], '*.xplane.pb'))
  assert xplanes and all(b'train' in open(p, 'rb').read() for p in xplanes)
  with gzip.open(os.path.join(runs[0], 'perfetto_trace.json.gz')) as f:
    trace = json.load(f)
  events = trace['traceEvents'] if isinstance(trace, dict) else trace
  return sorted(int(e['args']['step_num']) for e in events if e.get('name') == 'train')


def lines(workdir: str) -> list[dict]:
  """metrics.jsonl without its throughput, which differs from run to run."""
  return [{k: v for k, v in r.items() if not k.endswith('_per_sec')}
          for r in metrics.read_metrics(metrics.metrics_path(workdir))]


def assert_no_trace_running(directory) -> None:
  jax.profiler.start_trace(str(directory))  # Raises while another trace runs.
  jax.profiler.stop_trace()


@pytest.mark.parametrize('value', [(), [], (1, 1), (2, 5), [3, 4]])
def test_good_values(value):
  assert loop.check_profile_steps(value) == tuple(value)


@pytest.mark.parametrize('value', [(3, 2), (0, 2), (-1, 2), (5,), (1, 2, 3), ('a', 2),
                                   (1.5, 2), (True, 2), 5, '3,5', None])
def test_bad_values_are_config_errors(value):
  with pytest.raises(errors.ConfigError, match=r'config.profile.steps must be \(\) .* '
                                               r'1 <= a <= b'):
    loop.check_profile_steps(value)


# ---------------------------------------------------------------------------
# The loop, on a toy model: w halves each step; `bad` steps report a NaN loss.
# ---------------------------------------------------------------------------


def _toy_run(workdir, steps, *, num_steps=6, start=0, bad=()):
  def step(state, s):
    w = state['w'] * 0.5
    loss = jnp.float32(jnp.nan) if s in bad else jnp.sum(w)
    return {'w': w, 'step': state['step'] + 1}, {'loss': loss}
  hooks = loop.Hooks(step=step, updated_loss=lambda state, s: float(jnp.sum(state['w'])),
                     evaluate=lambda state: {'val_ce': float(jnp.sum(state['w']))},
                     train_record=lambda s, m: {'train_loss': m['loss']},
                     checkpoint=lambda state, s: (state, {}), loss_key='loss')
  store = checkpoints.CheckpointStore(str(workdir), keep=10)
  guard = guards.Guard(store, vocab_size=4, divergence_factor=10.0)
  state = {'w': jnp.ones(2, jnp.float32), 'step': jnp.int32(start)}
  with metrics.MetricsWriter(str(workdir), start) as writer:
    loop.train_loop(state, hooks, start=start, cadence=loop.Cadence(num_steps, 1, 3, 3),
                    guard=guard, store=store, writer=writer, units_per_step=1,
                    profile_steps=steps, profile_dir=os.path.join(str(workdir), 'profile'))


def test_a_range_partly_outside_the_run_traces_the_steps_it_has(tmp_path):
  _toy_run(tmp_path / 'past_the_end', (5, 99))
  assert traced_steps(str(tmp_path / 'past_the_end')) == [5, 6]
  _toy_run(tmp_path / 'resumed', (1, 4), start=2)  # Steps 3.. of a resumed run.
  assert traced_steps(str(tmp_path / 'resumed')) == [3, 4]


def test_a_range_entirely_outside_the_run_does_nothing_in_one_line(tmp_path, caplog):
  with caplog.at_level(logging.INFO):
    _toy_run(tmp_path / 'after', (7, 9))
    _toy_run(tmp_path / 'before', (1, 2), start=2)
  said = [r.getMessage() for r in caplog.records if 'profile.steps' in r.getMessage()]
  assert said == ['profile.steps (7, 9): this run has steps 1..6, none of them: no trace.',
                  'profile.steps (1, 2): this run has steps 3..6, none of them: no trace.']
  assert not glob.glob(str(tmp_path / '*' / 'profile'))


def test_a_run_stopped_early_stops_the_trace(tmp_path):
  with pytest.raises(errors.TrainingStopped, match='step 3'):
    _toy_run(tmp_path, (2, 5), bad={3})
  assert_no_trace_running(tmp_path / 'probe')
  assert traced_steps(str(tmp_path)) == [2, 3]  # Up to the step whose NaN stopped it.


# ---------------------------------------------------------------------------
# The two trainers.
# ---------------------------------------------------------------------------


def test_landauer_trace_changes_no_metric(tiny_config, landauer_run, tmp_path):
  config = tiny_config('original')
  config.profile.steps = (2, 3)
  assert train.train_and_evaluate(config, str(tmp_path)) == landauer_run[1]
  assert traced_steps(str(tmp_path)) == [2, 3]
  assert lines(str(tmp_path)) == lines(landauer_run[0])
  assert_no_trace_running(tmp_path / 'probe')


def test_landauer_run_recorded_before_the_key_resumes_with_a_trace(tiny_config, landauer_run,
                                                                   tmp_path):
  old = tiny_config('original')
  del old['profile']  # A config file from before config.profile.
  old.train.num_steps = 3
  train.train_and_evaluate(old, str(tmp_path))
  with open(tmp_path / 'config.json') as f:
    assert 'profile.steps' not in json.load(f)['run']['config']
  config = tiny_config('original')
  config.profile.steps = (2, 5)  # Step 2 is before the resumed start: steps 4 and 5.
  assert train.train_and_evaluate(config, str(tmp_path)) == landauer_run[1]
  assert traced_steps(str(tmp_path)) == [4, 5]
  assert lines(str(tmp_path)) == lines(landauer_run[0])


def test_landauer_old_run_records_read_with_the_key_at_its_default(tiny_config):
  record = workdir_lib.run_record(tiny_config('original').to_dict(), 'data')
  old = {**record, 'config': {k: v for k, v in record['config'].items()
                              if k not in config_schema.LATER_KEYS}}
  assert 'profile.steps' in config_schema.LATER_KEYS and 'profile.steps' in config_schema.EXTENDABLE_KEYS
  assert config_schema.canonical_run_record(old) == record


@pytest.fixture(scope='module')
def field_reference(small_corpus_path, data_dir, tmp_path_factory):
  """(workdir, run.json) of an untraced 4-step field_tiny run, shrunk to test size."""
  workdir = str(tmp_path_factory.mktemp('field_reference'))
  config = shrunk_config(field_tiny.get_config(), small_corpus_path, data_dir)
  return workdir, field_train.train_and_evaluate(config, workdir)


def test_field_trace_changes_no_metric(field_reference, small_corpus_path, data_dir,
                                       tmp_path):
  config = shrunk_config(field_tiny.get_config(), small_corpus_path, data_dir)
  config.profile.steps = (2, 3)
  run = field_train.train_and_evaluate(config, str(tmp_path))
  assert run['final'] == field_reference[1]['final']
  assert traced_steps(str(tmp_path)) == [2, 3]
  assert lines(str(tmp_path)) == lines(field_reference[0])
  assert_no_trace_running(tmp_path / 'probe')


def test_field_run_recorded_before_the_key_resumes_with_a_trace(
    field_reference, small_corpus_path, data_dir, tmp_path, monkeypatch):
  record = workdir_lib.run_record

  def before_the_key(config, data):  # The run record of a version without profile_steps.
    run = record(config, data)
    del run['config']['train.profile_steps']
    return run
  monkeypatch.setattr(field_train.workdir_lib, 'run_record', before_the_key)
  old = shrunk_config(field_tiny.get_config(), small_corpus_path, data_dir, num_steps=2)
  del old['profile']
  field_train.train_and_evaluate(old, str(tmp_path))
  monkeypatch.undo()
  config = shrunk_config(field_tiny.get_config(), small_corpus_path, data_dir)
  config.profile.steps = (3, 9)
  assert field_train.train_and_evaluate(config, str(tmp_path))['final'] == (
      field_reference[1]['final'])
  assert traced_steps(str(tmp_path)) == [3, 4]
  assert lines(str(tmp_path)) == lines(field_reference[0])


def test_field_config_error_names_the_key():
  config = field_tiny.get_config()
  config.profile.steps = (5, 2)
  with pytest.raises(errors.ConfigError, match=r'config.profile.steps\) must be'):
    field_schema.train_config_from(config)
  assert field_schema.TrainConfig(profile_steps=[2, 3]).profile_steps == (2, 3)
