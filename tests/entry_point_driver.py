"""One Python process that runs many command lines of our entry points and scripts.

A user's mistake must end in one `error:` line and an exit code, never a traceback;
checking that one process per command line would cost a JAX start-up each. The
driver reads one request a line, [target, [argv, ...]], and runs each argv:
`experiments.<target>.cli()` for an entry point, or `python -m scripts.X` (runpy, as
`__main__`) for a target 'scripts.X'; it catches the exit and answers one line,
RESULTS + a JSON list of {code, stdout, stderr, traceback}. Between command lines it
drops the flags they defined (each entry point and script defines --workdir,
--local_path, ...); library modules' flags stay, as they do in one real process.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

_DRIVER = r'''
import contextlib, importlib, io, json, runpy, sys, traceback
from absl import app, flags
from landauerjax.core import tokenizers
from experiments import common  # Defines --debug, which every entry point reads.
from landauerjax import xla_cpu
xla_cpu.set_small_loop_threshold()  # Before any JAX computation, as generate_landauer does.
app.define_help_flags()
shared = set(flags.FLAGS)


def drop_flags(since, owned_by):
  for flag in set(flags.FLAGS) - since:
    module = flags.FLAGS.find_module_defining_flag(flag, '')
    if flag.startswith('config.') or owned_by(module):
      delattr(flags.FLAGS, flag)


for request in sys.stdin:
  target, argvs = json.loads(request)
  script = target.startswith('scripts.')
  if not script:
    sys.modules.pop('experiments.' + target, None)  # Imported afresh: it defines its flags.
    module = importlib.import_module('experiments.' + target)
  defined = set(flags.FLAGS)  # Config files define their override flags when parsed.
  results = []
  for argv in argvs:
    out, err, code, trace = io.StringIO(), io.StringIO(), None, ''
    sys.argv = [target.replace('.', '/') + '.py' if script else 'prog'] + argv
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      try:
        if script:  # Runs as __main__ each time, so it defines its flags each time.
          runpy.run_module(target, run_name='__main__', alter_sys=True)
        else:
          module.cli()
      except SystemExit as e:
        code = e.code
      except BaseException:
        trace = traceback.format_exc()
    flags.FLAGS.unparse_flags()
    # A script run as __main__ is named by its path (absl names it after sys.argv[0]).
    drop_flags(defined, lambda m: script and (m in ('__main__', '') or 'scripts' in m))
    results.append({'code': code, 'stdout': out.getvalue(), 'stderr': err.getvalue(),
                    'traceback': trace})
  drop_flags(shared, lambda m: m.startswith('experiments.'))  # The entry point's own.
  sys.stdout.write('\nRESULTS ' + json.dumps(results) + '\n')
  sys.stdout.flush()
'''


def driver(log: pathlib.Path) -> Iterator[Callable[[str, list[list[str]]], list[dict]]]:
  """Starts a driver (its stderr to `log`) and yields `run(target, argvs)` -> one result per
  argv; stops it when resumed. For a pytest fixture: `yield from driver(path)`."""
  with open(log, 'w') as stderr:
    process = subprocess.Popen([sys.executable, '-c', _DRIVER], cwd=REPO_ROOT, text=True,
                               env=dict(os.environ, JAX_PLATFORMS='cpu'),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)

  def run(target: str, argvs: list[list[str]]) -> list[dict]:
    watchdog = threading.Timer(600, process.kill)
    watchdog.start()
    try:
      process.stdin.write(json.dumps([target, argvs]) + '\n')
      process.stdin.flush()
      for line in process.stdout:  # Anything printed outside the commands is skipped.
        if line.startswith('RESULTS '):
          return json.loads(line[len('RESULTS '):])
    finally:
      watchdog.cancel()
    raise AssertionError(f'The driver stopped: {log.read_text()[-3000:]}')
  yield run
  process.stdin.close()
  process.wait(timeout=120)


def assert_one_line_error(result: dict, expected: str, code: int = 2) -> None:
  """The command line ended in exactly one `error: ...` line (its last words) naming
  `expected`, exit `code`, and no traceback."""
  assert not result['traceback'], result['traceback']
  assert result['code'] == code, result
  errors = [l for l in result['stderr'].splitlines() if l.startswith('error: ')]
  assert len(errors) == 1, result['stderr']
  assert result['stderr'].rstrip('\n').endswith(errors[0])  # The last thing said.
  assert 'Traceback' not in result['stderr']
  assert expected in errors[0], errors[0]
