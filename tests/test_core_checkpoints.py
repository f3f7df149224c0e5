"""landauerjax.core.checkpoints: manifests, corruption, fallback, finite checks, pruning."""

from __future__ import annotations

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

from landauerjax.core import checkpoints
from landauerjax.core import errors


def _state(value: float) -> dict:
  return {'params': {'w': jnp.full((64, 64), value, jnp.float32),
                     'b': jnp.arange(8, dtype=jnp.float32) + value},
          'step': jnp.int32(int(value))}


def _store(tmp_path, keep=None) -> checkpoints.CheckpointStore:
  return checkpoints.CheckpointStore(str(tmp_path / 'run'), keep=keep)


def _saved(tmp_path, steps=(1, 2), keep=None) -> checkpoints.CheckpointStore:
  store = _store(tmp_path, keep)
  for step in steps:
    store.save(step, _state(float(step)), {'step': step})
  return store


def _load(store):
  def load(step):
    store.read_meta(step)
    return store.restore_state(step, _state(0.0))
  return load


def _data_files(step_dir: str) -> list[str]:
  """The array data files of a step (orbax/TensorStore chunk files), largest first."""
  found = [os.path.join(root, name) for root, _, names in os.walk(step_dir)
           for name in names if os.sep + 'd' + os.sep in os.path.join(root, name)]
  return sorted(found, key=os.path.getsize, reverse=True)


def _flip_bytes(path: str, count: int = 3) -> None:
  data = bytearray(open(path, 'rb').read())
  for i in range(count):
    data[len(data) // 2 + 7 * i] ^= 0xFF
  with open(path, 'wb') as f:
    f.write(data)


def test_save_writes_a_manifest_of_every_file_and_restores(tmp_path):
  store = _saved(tmp_path, steps=(3,))
  manifest = json.load(open(os.path.join(store.step_dir(3), checkpoints.MANIFEST)))
  files = manifest['files']
  assert any(rel.startswith('state' + os.sep) for rel in files)
  assert any(rel.startswith('meta' + os.sep) for rel in files)
  store.verify(3)
  assert store.read_meta(3) == {'step': 3}
  restored = store.restore_state(3, _state(0.0))
  np.testing.assert_array_equal(restored['params']['w'], np.full((64, 64), 3.0))
  assert int(restored['step']) == 3


@pytest.mark.parametrize('damage,reason', [
    (lambda d: _flip_bytes(_data_files(d)[0]), 'does not match its sha256'),
    (lambda d: open(_data_files(d)[0], 'r+b').truncate(10), 'bytes'),
    (lambda d: os.remove(_data_files(d)[0]), 'is missing'),
    (lambda d: open(os.path.join(d, checkpoints.MANIFEST), 'w').write('{"files": [1'),
     'garbled'),
    (lambda d: os.remove(os.path.join(d, checkpoints.MANIFEST)), 'did not finish'),
    (lambda d: open(os.path.join(d, 'state', 'extra'), 'w').write('x'),
     'was not in the checkpoint'),
], ids=['flipped_bytes', 'truncated', 'deleted_file', 'garbled_manifest', 'no_manifest',
        'extra_file'])
def test_damaged_step_is_refused_naming_the_step_and_file(tmp_path, damage, reason):
  store = _saved(tmp_path)
  damage(store.step_dir(2))
  with pytest.raises(checkpoints.UnusableCheckpoint, match=reason) as info:
    store.verify(2)
  assert 'checkpoint step 2' in str(info.value)
  assert store.step_dir(2) in str(info.value)
  store.verify(1)  # The other step is untouched.


def test_flipped_bytes_are_caught_by_the_manifest_not_by_luck(tmp_path):
  """Without the manifest, orbax would read the flipped data; with it, nothing loads."""
  store = _saved(tmp_path, steps=(1,))
  _flip_bytes(_data_files(store.step_dir(1))[0])
  with pytest.raises(checkpoints.UnusableCheckpoint, match='sha256'):
    _load(store)(1)


def test_restore_latest_falls_back_to_the_newest_step_that_verifies(tmp_path, caplog):
  store = _saved(tmp_path, steps=(1, 2, 3))
  _flip_bytes(_data_files(store.step_dir(3))[0])
  os.remove(os.path.join(store.step_dir(2), checkpoints.MANIFEST))
  step, state = store.restore_latest(_load(store))
  assert step == 1
  np.testing.assert_array_equal(state['params']['w'], np.full((64, 64), 1.0))
  warnings = [r.getMessage() for r in caplog.records if r.levelname == 'WARNING']
  assert any('step 3 is unusable' in w and 'falling back to step 2' in w for w in warnings)
  assert any('step 2 is unusable' in w and 'falling back to step 1' in w for w in warnings)


def test_restore_latest_with_a_step_never_falls_back(tmp_path):
  store = _saved(tmp_path)
  _flip_bytes(_data_files(store.step_dir(2))[0])
  with pytest.raises(errors.CheckpointError, match='Leave out --step'):
    store.restore_latest(_load(store), step=2)
  with pytest.raises(errors.CheckpointError, match=r'has steps \[1, 2\]'):
    store.restore_latest(_load(store), step=5)
  assert store.restore_latest(_load(store), step=1)[0] == 1


def test_no_step_that_verifies_is_one_error_listing_them(tmp_path):
  store = _saved(tmp_path)
  for step in (1, 2):
    os.remove(os.path.join(store.step_dir(step), checkpoints.MANIFEST))
  with pytest.raises(errors.CheckpointError, match='No checkpoint in .* verifies') as info:
    store.restore_latest(_load(store))
  assert 'step 2' in str(info.value) and 'step 1' in str(info.value)
  assert _store(tmp_path / 'empty').restore_latest(_load(store)) is None


def test_other_errors_of_load_are_not_fallen_back_from(tmp_path):
  store = _saved(tmp_path)

  def load(step):
    raise errors.WorkdirError(f'other run at {step}')
  with pytest.raises(errors.WorkdirError, match='other run at 2'):
    store.restore_latest(load)


def test_save_refuses_a_non_finite_state_and_writes_nothing(tmp_path):
  store = _saved(tmp_path, steps=(1,))
  bad = _state(2.0)
  bad['params']['b'] = bad['params']['b'].at[3].set(jnp.nan)
  with pytest.raises(checkpoints.NonFiniteState, match='params/b') as info:
    store.save(2, bad, {})
  assert isinstance(info.value, errors.TrainingStopped)
  assert store.steps() == [1]
  inf = _state(2.0)
  inf['params']['w'] = inf['params']['w'].at[0, 0].set(jnp.inf)
  with pytest.raises(checkpoints.NonFiniteState, match='params/w'):
    store.save(2, inf, {})


def test_non_finite_values_on_disk_are_refused_on_restore(tmp_path):
  """A checkpoint written by other code (manifest and all) that holds a NaN."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  store = _store(tmp_path)
  bad = _state(1.0)
  bad['params']['w'] = bad['params']['w'].at[5, 5].set(jnp.nan)
  os.makedirs(store.directory)
  ocp.Checkpointer(ocp.CompositeCheckpointHandler()).save(
      store.step_dir(1), args=ocp.args.Composite(
          state=ocp.args.StandardSave(bad), meta=ocp.args.JsonSave({})))
  checkpoints.write_manifest(store.step_dir(1))
  store.verify(1)  # The files are intact: the values are the problem.
  with pytest.raises(checkpoints.UnusableCheckpoint, match='non-finite values in params/w'):
    _load(store)(1)


def test_nonfinite_leaves_names_float_leaves_only():
  tree = {'a': jnp.array([1.0, jnp.nan]), 'b': jnp.int32(3),
          'c': [jnp.zeros(2), jnp.array([jnp.inf])]}
  assert checkpoints.nonfinite_leaves(tree) == ['a', 'c/1']
  assert checkpoints.nonfinite_leaves({'x': np.ones(3, np.float32)}) == []


def test_prune_keeps_the_newest_verified_steps(tmp_path):
  store = _saved(tmp_path, steps=(1, 2, 3, 4), keep=2)
  assert store.steps() == [3, 4]


def test_nothing_is_deleted_when_the_new_step_fails_before_its_manifest(tmp_path, monkeypatch):
  store = _saved(tmp_path, steps=(1,), keep=1)

  def fail(step_dir):
    raise OSError('disk full')
  monkeypatch.setattr(checkpoints, 'write_manifest', fail)
  with pytest.raises(OSError, match='disk full'):
    store.save(2, _state(2.0), {})
  assert store.steps() == [1, 2]
  store.verify(1)  # Still there and valid; step 2 has no manifest.
  assert store.latest_verified_step() == 1


def test_a_step_left_by_a_dead_run_is_set_aside_not_overwritten(tmp_path):
  store = _saved(tmp_path, steps=(1,))
  os.makedirs(store.step_dir(2))
  open(os.path.join(store.step_dir(2), 'junk'), 'w').write('x')
  store.save(2, _state(2.0), {})
  store.verify(2)
  rejected = os.path.join(store.workdir, 'checkpoints_set_aside')
  (moved,) = os.listdir(rejected)
  assert moved.startswith('2-') and os.listdir(os.path.join(rejected, moved)) == ['junk']


def test_remove_unfinished_saves(tmp_path):
  store = _saved(tmp_path, steps=(1,))
  tmp = os.path.join(store.directory, '2.orbax-checkpoint-tmp-1234')
  os.makedirs(os.path.join(tmp, 'state'))
  store.remove_unfinished_saves()
  assert os.listdir(store.directory) == ['1']


def test_ctrl_c_during_a_save_is_held_until_the_step_is_complete(tmp_path, monkeypatch):
  import signal  # pylint: disable=g-import-not-at-top
  store = _store(tmp_path)
  original = checkpoints.write_manifest

  def interrupted_write(step_dir):
    signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of the save...
    original(step_dir)
  monkeypatch.setattr(checkpoints, 'write_manifest', interrupted_write)
  with pytest.raises(KeyboardInterrupt):
    store.save(1, _state(1.0), {})
  store.verify(1)  # ... lands after it: the step is whole.
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_adopt_writes_the_manifest_of_intact_legacy_steps_only(tmp_path):
  store = _saved(tmp_path, steps=(1, 2, 3))
  for step in (1, 2, 3):
    os.remove(os.path.join(store.step_dir(step), checkpoints.MANIFEST))
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(store.step_dir(3))  # Step 3 gets a NaN: written by other code.
  bad = _state(3.0)
  bad['params']['w'] = bad['params']['w'].at[0, 0].set(jnp.nan)
  with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:  # Closed after.
    checkpointer.save(store.step_dir(3), args=ocp.args.Composite(
        state=ocp.args.StandardSave(bad), meta=ocp.args.JsonSave({})))
  for path in _data_files(store.step_dir(2)):  # Step 2's arrays are cut short.
    with open(path, 'r+b') as f:
      f.truncate(3)
  report = store.adopt()
  assert report[1] == 'adopted'
  assert report[2].startswith('not adopted: orbax cannot read it')
  assert report[3] == 'not adopted: non-finite values in params/w'
  assert store.latest_verified_step() == 1
  assert store.adopt() == {2: report[2], 3: report[3]}  # Idempotent.


def test_restore_of_another_structure_is_refused_not_fallen_back_from(tmp_path):
  store = _saved(tmp_path)
  other = {'params': {'w': jnp.zeros((64, 64))}, 'step': jnp.int32(0), 'extra': jnp.zeros(3)}
  with pytest.raises(errors.CheckpointError, match='another state structure') as info:
    store.restore_latest(lambda step: store.restore_state(step, other))
  assert not isinstance(info.value, checkpoints.UnusableCheckpoint)


def test_restore_latest_looks_again_when_a_trainer_prunes_meanwhile(tmp_path):
  store = _saved(tmp_path, steps=(1, 2))
  calls = []

  def load(step):
    calls.append(step)
    if step == 2 and len(calls) == 1:  # A trainer saves step 3 and prunes 1 and 2.
      store.keep = 1
      store.save(3, _state(3.0), {})
    return _load(store)(step)
  step, state = store.restore_latest(load)
  assert step == 3 and calls[:2] == [2, 3]
  np.testing.assert_array_equal(state['params']['w'], np.full((64, 64), 3.0))


def test_a_kill_during_pruning_leaves_no_half_deleted_step(tmp_path, monkeypatch):
  store = _saved(tmp_path, steps=(1,), keep=1)
  monkeypatch.setattr(checkpoints.shutil, 'rmtree', lambda *a, **k: None)  # Killed there.
  store.save(2, _state(2.0), {})
  assert store.steps() == [2]  # Step 1 is out of the steps already.
  monkeypatch.undo()
  store.remove_unfinished_saves()
  assert os.listdir(store.directory) == ['2']


def test_shape_mismatch_names_the_leaves():
  a = {'w': jnp.zeros((2, 3)), 'b': jnp.zeros(3)}
  assert checkpoints.shape_mismatch(a, {'w': jnp.zeros((2, 3)), 'b': jnp.ones(3)}) is None
  message = checkpoints.shape_mismatch(a, {'w': jnp.zeros((2, 4)), 'c': jnp.zeros(3)})
  assert message == ("b: ((3,), 'float32') vs absent; c: absent vs ((3,), 'float32'); "
                     "w: ((2, 3), 'float32') vs ((2, 4), 'float32')")


def test_resume_returns_the_start_and_sets_newer_steps_aside(tmp_path):
  empty = checkpoints.CheckpointStore(str(tmp_path / 'new'))
  assert empty.resume(lambda step: step) == (0, None)
  store = _saved(tmp_path, steps=(2, 4, 6))
  _flip_bytes(_data_files(store.step_dir(6))[0])  # The newest no longer verifies.
  load = _load(store)
  start, state = store.resume(load)
  assert int(state['step']) == 4
  assert start == 4 and store.steps() == [2, 4]
  start, _ = store.resume(load, step=2)  # A requested older step: 4 is set aside too.
  assert start == 2 and store.steps() == [2]
  assert len(os.listdir(os.path.join(store.workdir, 'checkpoints_set_aside'))) == 2
