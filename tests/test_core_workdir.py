"""landauerjax.core.workdir: the lock, run records and resume checks, atomic JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from landauerjax.core import errors
from landauerjax.core import workdir


def test_a_second_writer_is_refused_naming_the_pid(tmp_path):
  with workdir.WorkdirLock(str(tmp_path)):
    with pytest.raises(errors.WorkdirError, match=f'in use by pid {os.getpid()}'):
      workdir.WorkdirLock(str(tmp_path)).acquire()
  with workdir.WorkdirLock(str(tmp_path)):  # Released: free again.
    pass


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
  code = ('import sys, time; from landauerjax.core import workdir; '
          f'workdir.WorkdirLock({str(tmp_path)!r}).acquire(); print("locked", flush=True); '
          'time.sleep(60)')
  holder = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  try:
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(errors.WorkdirError, match=f'pid {holder.pid}'):
      workdir.WorkdirLock(str(tmp_path)).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
  finally:
    if holder.poll() is None:
      holder.kill()
      holder.wait()
  deadline = time.time() + 10
  while True:  # The kernel releases the flock with the process.
    try:
      with workdir.WorkdirLock(str(tmp_path)):
        break
    except errors.WorkdirError:
      assert time.time() < deadline
      time.sleep(0.1)


def test_flatten_and_changed_keys():
  flat = workdir.flatten({'a': {'b': 1, 'c': (1, 2)}, 'd': 'x'})
  assert flat == {'a.b': 1, 'a.c': [1, 2], 'd': 'x'}
  changes = workdir.changed_keys({'a.b': 1, 'n': 5, 'gone': 1}, {'a.b': 2, 'n': 6, 'new': 3},
                                 ignore=('n',))
  assert changes == [('a.b', 1, 2), ('gone', 1, None), ('new', None, 3)]


def _record(**config):
  base = {'seed': 0, 'train': {'num_steps': 10, 'lr': 0.1}, 'model': {'dim': 8}}
  for key, value in config.items():
    section, _, leaf = key.partition('__')
    if leaf:
      base[section] = {**base[section], leaf: value}
    else:
      base[section] = value
  return workdir.run_record(base, workdir.data_fingerprint(np.arange(5)))


def test_check_resume_refuses_changes_listing_the_keys(tmp_path):
  saved = _record()
  assert workdir.check_resume(saved, _record(train__num_steps=20), extendable=(
      'train.num_steps',), allow_changes=False, workdir='W', step=3) == []
  with pytest.raises(errors.WorkdirError) as info:
    workdir.check_resume(saved, _record(seed=1, model__dim=16), extendable=(),
                         allow_changes=False, workdir='W', step=3)
  message = str(info.value)
  assert 'seed: 0 -> 1' in message and 'model.dim: 8 -> 16' in message
  assert 'step 3' in message and '--allow_config_change' in message
  assert workdir.check_resume(saved, _record(seed=1), extendable=(), allow_changes=True,
                              workdir='W', step=3) == ['seed']


def test_check_resume_refuses_other_data():
  saved = _record()
  other = dict(saved, data_fingerprint=workdir.data_fingerprint(np.arange(6)))
  with pytest.raises(errors.WorkdirError, match='data: '):
    workdir.check_resume(saved, other, extendable=(), allow_changes=False, workdir='W', step=1)
  assert workdir.check_resume(None, other, extendable=(), allow_changes=False, workdir='W',
                              step=1) == []


def test_data_fingerprint_sees_values_dtype_and_extra():
  a = np.arange(10, dtype=np.int32)
  assert workdir.data_fingerprint(a) == workdir.data_fingerprint(a.copy())
  assert workdir.data_fingerprint(a) != workdir.data_fingerprint(a.astype(np.int64))
  assert workdir.data_fingerprint(a) != workdir.data_fingerprint(a[::-1])
  assert workdir.data_fingerprint(a, extra='v1') != workdir.data_fingerprint(a, extra='v2')


def test_write_json_is_atomic_and_refuses_nan(tmp_path):
  path = str(tmp_path / 'config.json')
  workdir.write_json(path, {'a': 1})
  with pytest.raises(ValueError):
    workdir.write_json(path, {'a': float('nan')})
  assert json.load(open(path)) == {'a': 1}  # The old file, whole.
  assert os.listdir(tmp_path) == ['config.json']


def test_check_resume_refuses_other_shapes_even_with_the_flag():
  saved = _record()
  with pytest.raises(errors.WorkdirError, match=r'model.dim: 8 -> 16.*\(w: .*no setting') as info:
    workdir.check_resume(saved, _record(model__dim=16), extendable=(), allow_changes=True,
                         workdir='W', step=3, shape_mismatch='w: (8,) vs (16,)')
  assert '--allow_config_change' not in str(info.value)
  for record in (None, saved):  # No record, or no recorded change, to name the keys.
    with pytest.raises(errors.CheckpointError, match=r'other shapes .*w: \(8,\)'):
      workdir.check_resume(record, saved, extendable=(), allow_changes=True, workdir='W',
                           step=3, shape_mismatch='w: (8,) vs (16,)')
