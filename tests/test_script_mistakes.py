"""The scripts under scripts/ answer a user's mistake with one line and exit 2.

Every script runs as `python -m scripts.NAME` runs it (`runpy`, as `__main__`), all of
them in one driver process (one JAX start-up, not one per script): an unknown flag, and
for the scripts that read a corpus, a file that is not there.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPTS = ('benchmark_device', 'benchmark_input', 'benchmark_landauer', 'field_results',
           'import_torch_checkpoint', 'landauer_results', 'ngram_baseline',
           'transformer_baseline', 'ppm_anchor', 'hashed_context_baseline', 'sample_quality',
           'field_best_results')
MISSING_CORPUS = (('ngram_baseline', '--local_path'), ('hashed_context_baseline', '--local_path'),
                  ('ppm_anchor', '--local_path'))

# Reads [[script, argv], ...] on stdin, runs each script as __main__ with its stdout and
# stderr captured, then drops the flags it defined (each defines --local_path, ...), and
# prints RESULTS + a JSON list of {code, stderr, traceback}.
_DRIVER = r'''
import contextlib, io, json, runpy, sys, traceback
from absl import flags
from experiments import common  # Defines --debug, which every script reads.
shared = set(flags.FLAGS)
results = []
for script, argv in json.loads(sys.stdin.read()):
  out, err, code, trace = io.StringIO(), io.StringIO(), None, ''
  sys.argv = ['scripts/' + script + '.py'] + argv
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
      runpy.run_module('scripts.' + script, run_name='__main__', alter_sys=True)
    except SystemExit as e:
      code = e.code
    except BaseException:
      trace = traceback.format_exc()
  flags.FLAGS.unparse_flags()
  for flag in set(flags.FLAGS) - shared:
    module = flags.FLAGS.find_module_defining_flag(flag, '')
    # A script run as __main__ is named by its path (absl names it after sys.argv[0]).
    if flag.startswith('config.') or module in ('__main__', '') or 'scripts' in module:
      delattr(flags.FLAGS, flag)
  results.append({'code': code, 'stderr': err.getvalue(), 'traceback': trace})
sys.stdout.write('\nRESULTS ' + json.dumps(results) + '\n')
'''


@pytest.fixture(scope='module')
def results(tmp_path_factory):
  """{(script, argv...): result} of every case, from one driver process."""
  missing = str(tmp_path_factory.mktemp('corpus') / 'nope.txt')
  cases = ([(script, ['--no_such_flag=1']) for script in SCRIPTS] +
           [(script, [f'{flag}={missing}']) for script, flag in MISSING_CORPUS])
  process = subprocess.run([sys.executable, '-c', _DRIVER], input=json.dumps(cases),
                           cwd=REPO_ROOT, env=dict(os.environ, JAX_PLATFORMS='cpu'),
                           capture_output=True, text=True, timeout=600, check=False)
  lines = [l for l in process.stdout.splitlines() if l.startswith('RESULTS ')]
  assert lines, process.stderr[-3000:]
  found = json.loads(lines[-1][len('RESULTS '):])
  return {(script, argv[0].split('=')[0]): result for (script, argv), result in zip(cases, found)}


def _assert_one_line_error(result: dict, expected: str) -> None:
  assert not result['traceback'], result['traceback']
  assert result['code'] == 2, result
  assert 'Traceback' not in result['stderr'], result['stderr'][-3000:]
  lines = [l for l in result['stderr'].splitlines() if l.startswith('error: ')]
  assert len(lines) == 1 and expected in lines[0], result['stderr'][-2000:]


@pytest.mark.parametrize('script', SCRIPTS)
def test_unknown_flag_is_one_line(results, script):
  _assert_one_line_error(results[(script, '--no_such_flag')], 'Unknown command line flag')


@pytest.mark.parametrize('script, flag', MISSING_CORPUS)
def test_missing_corpus_is_one_line(results, script, flag):
  _assert_one_line_error(results[(script, flag)], 'not found')
