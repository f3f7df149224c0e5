"""landauerjax.core.loop: the shared training loop, on a toy model (a counter and a decay).

The toy state is {'w': float32[2], 'step': int32}; step s multiplies w by 0.5 and
reports loss = sum(w). A `bad` map makes chosen steps report NaN, or blow up w.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from landauerjax.core import checkpoints
from landauerjax.core import errors
from landauerjax.core import guards
from landauerjax.core import loop
from landauerjax.core import metrics


def _hooks(bad: dict[int, str] | None = None, evaluations: list | None = None):
  bad = bad or {}
  calls = {'steps': [], 'evaluated': [], 'saved_meta': []}

  def step(state, s):
    calls['steps'].append(s)
    w = state['w'] * 0.5
    loss = jnp.sum(w)
    if bad.get(s) == 'state':  # A finite loss, a non-finite state.
      w = w.at[1].set(jnp.inf)
    if bad.get(s) == 'metric':
      loss = jnp.float32(jnp.nan)
    return {'w': w, 'step': state['step'] + 1}, {'loss': loss, 'aux': jnp.float32(s)}

  def evaluate(state):
    calls['evaluated'].append(int(state['step']))
    value = (evaluations or {}).get(int(state['step']), float(jnp.sum(state['w'])))
    return {'val_ce': value}

  hooks = loop.Hooks(
      step=step, updated_loss=lambda state, s: float(jnp.sum(state['w'])),
      evaluate=evaluate, train_record=lambda s, m: {'train_loss': m['loss'], 'aux': m['aux']},
      checkpoint=lambda state, s: (state, {'at': s}), loss_key='loss')
  return hooks, calls


def _run(tmp_path, hooks, *, num_steps=7, log_every=2, eval_every=3, checkpoint_every=5,
         start=0, state=None):
  store = checkpoints.CheckpointStore(str(tmp_path), keep=10)
  guard = guards.Guard(store, vocab_size=4, divergence_factor=10.0)
  state = state or {'w': jnp.ones(2, jnp.float32), 'step': jnp.int32(start)}
  cadence = loop.Cadence(num_steps, log_every, eval_every, checkpoint_every)
  with metrics.MetricsWriter(str(tmp_path), start) as writer:
    result = loop.train_loop(state, hooks, start=start, cadence=cadence, guard=guard,
                             store=store, writer=writer, units_per_step=10, unit='chars')
  return store, result


def test_cadence_due():
  cadence = loop.Cadence(num_steps=10, log_every=4, eval_every=5, checkpoint_every=3)
  assert cadence.due(4) == (True, False, False)
  assert cadence.due(5) == (False, True, False)
  assert cadence.due(6) == (False, False, True)
  assert cadence.due(10) == (True, True, True)  # The last step does everything.
  assert cadence.due(7) == (False, False, False)


def test_lines_evaluations_and_saves_follow_the_cadence(tmp_path):
  hooks, calls = _hooks()
  store, (state, last_eval) = _run(tmp_path, hooks)
  assert calls['steps'] == list(range(1, 8))
  lines = metrics.read_metrics(metrics.metrics_path(str(tmp_path)))
  # Log 2, 4, 6; evaluate 3, 6; save 5; and the last step 7 does all three.
  assert [r['step'] for r in lines] == [2, 3, 4, 5, 6, 7]
  assert [r['step'] for r in lines if 'val_ce' in r] == [3, 6, 7]
  assert calls['evaluated'] == [3, 6, 7]
  assert store.steps() == [5, 7]
  for r in lines:
    assert r['train_loss'] == pytest.approx(2 * 0.5 ** r['step'])  # The step's own metrics.
    assert r['aux'] == r['step']
    assert r['chars_per_sec'] > 0
  assert last_eval == {'val_ce': pytest.approx(2 * 0.5 ** 7)}
  assert int(state['step']) == 7
  restored = store.restore_state(7, state)
  np.testing.assert_array_equal(restored['w'], state['w'])
  assert store.read_meta(5)['at'] == 5


def test_resumed_loop_starts_after_start(tmp_path):
  hooks, calls = _hooks()
  start_state = {'w': jnp.full(2, 0.5 ** 4, jnp.float32), 'step': jnp.int32(4)}
  _run(tmp_path, hooks, start=4, state=start_state)
  assert calls['steps'] == [5, 6, 7]
  lines = metrics.read_metrics(metrics.metrics_path(str(tmp_path)))
  assert [r['step'] for r in lines] == [5, 6, 7]


@pytest.mark.parametrize('bad_step', [1, 4, 5])
def test_a_non_finite_metric_stops_the_run_at_its_step(tmp_path, bad_step):
  """Checked on device every step (also unlogged ones: 1); with a save every step, read
  back every step: a step late at most, never saved."""
  hooks, calls = _hooks(bad={bad_step: 'metric'})
  with pytest.raises(errors.TrainingStopped, match=f'at step {bad_step}: non-finite loss'):
    _run(tmp_path, hooks, checkpoint_every=1)
  store = checkpoints.CheckpointStore(str(tmp_path))
  assert store.steps() == list(range(1, bad_step))
  assert max(calls['steps']) <= bad_step + 1  # Read back one step behind.


def test_a_non_finite_state_is_never_saved(tmp_path):
  """Step 5 (a save step) reports a finite loss; the state check catches it."""
  hooks, _ = _hooks(bad={5: 'state'})
  with pytest.raises(errors.TrainingStopped, match='at step 5: the update made w non-finite'):
    _run(tmp_path, hooks)
  assert checkpoints.CheckpointStore(str(tmp_path)).steps() == []


def test_the_updated_loss_is_checked_before_saving(tmp_path):
  hooks, _ = _hooks()
  hooks = loop.Hooks(**{**hooks.__dict__, 'updated_loss': lambda state, s: 1e6})
  with pytest.raises(errors.TrainingStopped, match='loss of the updated parameters diverged'):
    _run(tmp_path, hooks)
  assert checkpoints.CheckpointStore(str(tmp_path)).steps() == []


def test_a_non_finite_evaluation_stops_before_the_save(tmp_path):
  hooks, _ = _hooks(evaluations={7: math.nan})
  with pytest.raises(errors.TrainingStopped, match='at step 7: non-finite validation CE'):
    _run(tmp_path, hooks)
  assert checkpoints.CheckpointStore(str(tmp_path)).steps() == [5]
  lines = metrics.read_metrics(metrics.metrics_path(str(tmp_path)))
  assert max(r['step'] for r in lines) < 7


def test_on_eval_sees_every_evaluation(tmp_path):
  hooks, _ = _hooks()
  seen = []
  hooks = loop.Hooks(**{**hooks.__dict__, 'on_eval': lambda s, e: seen.append((s, e['val_ce']))})
  _run(tmp_path, hooks)
  assert [s for s, _ in seen] == [3, 6, 7]


def _count_reads(monkeypatch):
  """The steps at which the loop reads device values back (loop._to_host calls)."""
  reads = []
  to_host = loop._to_host  # pylint: disable=protected-access

  def counting(tree):
    reads.append(tree)
    return to_host(tree)
  monkeypatch.setattr(loop, '_to_host', counting)
  return reads


def test_metrics_are_read_back_only_at_log_eval_and_save_steps(tmp_path, monkeypatch):
  reads = _count_reads(monkeypatch)
  hooks, _ = _hooks()
  _run(tmp_path / 'a', hooks, num_steps=7, log_every=2, eval_every=3, checkpoint_every=5)
  # Steps 2, 3, 4, 5, 6, 7 (the last); never 1.
  assert [float(metrics['aux']) for metrics, _ in reads] == [2, 3, 4, 5, 6, 7]
  reads.clear()
  hooks, calls = _hooks()
  _run(tmp_path / 'b', hooks, num_steps=9, log_every=4, eval_every=100, checkpoint_every=100)
  assert [float(metrics['aux']) for metrics, _ in reads] == [4, 8, 9]
  assert calls['steps'] == list(range(1, 10))


@pytest.mark.parametrize('bad', ['metric', 'diverged'])
def test_a_bad_unlogged_step_stops_the_run_at_the_next_read_naming_it(tmp_path, monkeypatch,
                                                                      bad):
  """Step 2 is neither logged nor saved: the device-side watch keeps it, and the read at
  the save step 3 stops the run, naming step 2, before step 3 is saved."""
  reads = _count_reads(monkeypatch)
  hooks, calls = _hooks(bad={2: 'metric'} if bad == 'metric' else None)
  if bad == 'diverged':
    step = hooks.step
    hooks = loop.Hooks(**{**hooks.__dict__, 'step': lambda state, s: (
        lambda out: (out[0], {**out[1], 'loss': jnp.float32(1e9) if s == 2 else out[1]['loss']})
    )(step(state, s))})
  match = 'at step 2: non-finite loss' if bad == 'metric' else 'at step 2: the loss diverged'
  with pytest.raises(errors.TrainingStopped, match=match):
    _run(tmp_path, hooks, num_steps=9, log_every=4, eval_every=100, checkpoint_every=3)
  assert checkpoints.CheckpointStore(str(tmp_path)).steps() == []
  assert len(reads) == 1 and max(calls['steps']) == 3
