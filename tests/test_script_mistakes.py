"""The scripts under scripts/ answer a user's mistake with one line and exit 2 (slow).

Each runs in its own process (as a user runs it): an unknown flag, and for the
scripts that read a corpus, a file that is not there.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

SCRIPTS = ('benchmark_device', 'benchmark_input', 'benchmark_landauer', 'field_results',
           'import_torch_checkpoint', 'landauer_results', 'ngram_baseline',
           'transformer_baseline', 'ppm_anchor', 'hashed_context_baseline', 'sample_quality',
           'field_best_results')


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-m', f'scripts.{script}', *args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=300, check=False)


def _assert_one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
  assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  lines = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
  assert len(lines) == 1 and expected in lines[0], result.stderr[-2000:]


@pytest.mark.parametrize('script', SCRIPTS)
def test_unknown_flag_is_one_line(script):
  _assert_one_line_error(_run(script, '--no_such_flag=1'), "Unknown command line flag")


@pytest.mark.parametrize('script, flag', [('ngram_baseline', '--local_path'),
                                          ('hashed_context_baseline', '--local_path'),
                                          ('ppm_anchor', '--local_path')])
def test_missing_corpus_is_one_line(script, flag, tmp_path):
  _assert_one_line_error(_run(script, f'{flag}={tmp_path / "nope.txt"}'), 'not found')
