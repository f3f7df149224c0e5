"""One measurement in a fresh Python process.

A process's peak memory counts all it ever ran, XLA reads its flags once per
process, and a crash (out of memory, a failed CUDA call) ends the process: a
benchmark runs each measurement where none of that reaches the others.
`run('package.module:function', spec)` starts a new interpreter that imports
the module, calls `function(spec)` (spec and result: JSON) and hands the result
back; a failure, a crash or a timeout comes back as a status, never raises.
Model-free: the standard library only (the child imports what the target needs).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

_CHILD = 'import sys; from landauerjax.core import fresh_process as f; f.child(*sys.argv[1:])'


def run(target: str, spec: dict[str, Any], *, cwd: str | None = None,
        timeout_s: float | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
  """`target` ('module:function') called with `spec` in a new interpreter.

  Args:
    target: the function, importable in `cwd` (the repository root for `scripts.X`).
    spec: its one argument, JSON-able.
    cwd: the child's working directory (default: this process's).
    timeout_s: the child is stopped after this many seconds (None: never).
    env: the child's environment (default: this process's).

  Returns:
    {'status': 'ok' | 'error' | 'timeout', 'wall_s' (the child's whole life),
    'result' when ok, else 'error' (one line first) and, where Python raised,
    'traceback'; 'child_s' (the call itself) where the child finished}.
  """
  with tempfile.TemporaryDirectory() as tmp:
    out_path = os.path.join(tmp, 'result.json')
    t0 = time.perf_counter()
    try:
      done = subprocess.run([sys.executable, '-c', _CHILD, target, json.dumps(spec), out_path],
                            cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
      return {'status': 'timeout', 'wall_s': time.perf_counter() - t0,
              'error': f'stopped after {timeout_s:.0f} s'}
    wall = time.perf_counter() - t0
    if not os.path.exists(out_path):  # Killed (e.g. host OOM) or crashed in C++.
      return {'status': 'error', 'wall_s': wall,
              'error': f'child exited {done.returncode} without a result: '
                       + done.stderr.strip()[-1500:]}
    with open(out_path) as f:
      out = json.load(f)
  if out['ok']:
    return {'status': 'ok', 'wall_s': wall, 'child_s': out['child_s'], 'result': out['result']}
  return {'status': 'error', 'wall_s': wall, 'child_s': out['child_s'], 'error': out['error'],
          'traceback': out['traceback']}


def child(target: str, spec_json: str, out_path: str) -> None:
  """The child's side: writes {'ok', 'result' | 'error' and 'traceback', 'child_s'}."""
  t0 = time.perf_counter()
  try:
    module, _, name = target.partition(':')
    function = getattr(importlib.import_module(module), name)
    t0 = time.perf_counter()  # The call, not the imports.
    out = {'ok': True, 'result': function(json.loads(spec_json))}
  except Exception as e:  # pylint: disable=broad-except  # Recorded; the parent goes on.
    out = {'ok': False, 'error': f'{type(e).__name__}: {e}'[:2000],
           'traceback': traceback.format_exc()[-4000:]}
  out['child_s'] = time.perf_counter() - t0
  with open(out_path, 'w') as f:
    json.dump(out, f)
