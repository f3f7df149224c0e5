"""landauerjax.core.fresh_process: a function run in a new interpreter, and what comes back."""

from __future__ import annotations

import os

from conftest import REPO_ROOT
from landauerjax.core import fresh_process


def test_a_result_an_error_and_a_timeout_come_back_as_statuses():
  ok = fresh_process.run('builtins:sorted', [3, 1, 2], cwd=REPO_ROOT,
                         env={**os.environ, 'UNUSED_FOR_THE_TEST': '1'})
  assert ok == {'status': 'ok', 'wall_s': ok['wall_s'], 'child_s': ok['child_s'],
                'result': [1, 2, 3]}
  assert ok['wall_s'] >= ok['child_s'] >= 0
  error = fresh_process.run('builtins:int', {'not': 'a number'}, cwd=REPO_ROOT)
  assert error['status'] == 'error' and error['error'].startswith('TypeError: ')
  assert 'Traceback' in error['traceback']
  missing = fresh_process.run('no_such_module_here:f', {}, cwd=REPO_ROOT)
  assert missing['status'] == 'error' and 'ModuleNotFoundError' in missing['error']
  slow = fresh_process.run('time:sleep', 30, cwd=REPO_ROOT, timeout_s=0.4)
  assert slow['status'] == 'timeout' and slow['error'].startswith('stopped after')
