"""landauerjax.core.distributed: one process is a no-op; two local processes train as one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO_ROOT
from conftest import small_corpus
from landauerjax.core import distributed
from landauerjax.core import errors
from landauerjax.core import metrics


def test_one_process_needs_nothing():
  distributed.initialize()  # No address, not auto: nothing happens.
  assert not distributed.initialized() and distributed.is_primary()
  distributed.barrier('nothing to wait for')
  assert distributed.primary_first(lambda: 7, 'seven') == 7


@pytest.mark.parametrize('kwargs,match', [
    ({'coordinator_address': '127.0.0.1:1'}, 'needs --num_processes and --process_id'),
    ({'coordinator_address': '127.0.0.1:1', 'num_processes': 2, 'process_id': 2},
     r'--process_id must be in \[0, 2\)'),
])
def test_incomplete_or_wrong_arguments_are_one_line_errors(kwargs, match):
  with pytest.raises(errors.ConfigError, match=match):
    distributed.initialize(**kwargs)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_of_four_devices_train_like_one_device(tmp_path):
  """tests/multihost_checks.py as two processes (4 fake CPU devices each, gloo
  collectives over 127.0.0.1) trains both models until SIGTERM to process 1 stops
  both after step 2, then resumes them to 4: the same losses as one process on one
  device (float32 reduction order only: rtol 2e-5, see test_core_sharding), each
  metrics line written once."""
  import multidevice_checks as checks  # pylint: disable=g-import-not-at-top
  (tmp_path / 'corpus.txt').write_text(small_corpus())
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=os.environ.get('XLA_FLAGS', '')
             + ' --xla_force_host_platform_device_count=4')
  port = _free_port()
  procs = [subprocess.Popen(
      [sys.executable, str(REPO_ROOT / 'tests' / 'multihost_checks.py'), str(tmp_path),
       str(port), str(i)], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  deadline = time.monotonic() + 400
  try:
    outputs = [p.communicate(timeout=max(1, deadline - time.monotonic())) for p in procs]
  finally:
    for p in procs:  # Never leave a process behind.
      if p.poll() is None:
        p.kill()
        p.wait()
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  results = json.loads(outputs[0][0].strip().splitlines()[-1])
  corpus, data_dir = str(tmp_path / 'corpus.txt'), str(tmp_path / 'tfds_single')
  for name, make_config, train in (
      ('landauer', checks.landauer_config, checks.landauer_train.train_and_evaluate),
      ('field', checks.field_config, checks.field_train.train_and_evaluate)):
    single = str(tmp_path / f'{name}_single')
    train(make_config(corpus, data_dir), single)
    expected = checks.losses(single)
    assert len(expected) == 4 and np.min(np.abs(np.diff(expected))) > 1e-3
    np.testing.assert_allclose(results[name], expected, rtol=2e-5, err_msg=name)
    assert results[name + '_stops'] == [[2, 'a signal to another process'], [2, 'SIGTERM']]
    lines = metrics.read_metrics(metrics.metrics_path(str(tmp_path / name)))
    assert [r['step'] for r in lines] == [1, 2, 3, 4]
