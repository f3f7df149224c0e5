"""scripts/benchmark_device.py: its refusals, its files, its rows' failures and time
budget, its imports, and a --quick run end to end on the CPU (the rows' FLOP counts:
tests/test_field_profiling.py, tests/test_profiling.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from entry_point_driver import assert_one_line_error
import entry_point_driver
from scripts import benchmark_device

# Modules the GPU machine does not have; neither the script nor its rows may import them.
ABSENT_ON_GPU = ('tensorflow_datasets', 'grain', 'array_record', 'tensorboardX')


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
  yield from entry_point_driver.driver(tmp_path_factory.mktemp('driver') / 'stderr.txt')


def test_refuses_a_cpu_and_an_unknown_row(drive, tmp_path):
  out = [f'--output_json={tmp_path}/b.json', f'--output_md={tmp_path}/b.md']
  no_gpu, unknown = drive('scripts.benchmark_device', [out, ['--quick', '--rows=matmul,nope']])
  assert_one_line_error(no_gpu, '--quick')
  assert 'GPU' in no_gpu['stderr']
  assert_one_line_error(unknown, "unknown ['nope']")
  assert not list(tmp_path.iterdir())


def _run(args, tmp_path, env=None, timeout=300):
  return subprocess.run(
      [sys.executable, '-m', 'scripts.benchmark_device', '--quick',
       f'--compilation_cache_dir={tmp_path}/cache', *args], cwd=REPO_ROOT,
      capture_output=True, text=True, timeout=timeout, check=False,
      env={**os.environ, **(env or {})})


def test_time_budget_skips_the_rest_and_writes_only_the_named_files(tmp_path):
  out = tmp_path / 'out'
  result = _run(['--rows=matmul,landauer_best', '--time_budget_s=0',
                 f'--output_json={out}/b.json', f'--output_md={out}/b.md'], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(p.name for p in out.iterdir()) == ['b.json', 'b.md']
  rows = json.loads((out / 'b.json').read_text())['rows']
  assert [(r['row'], r['status']) for r in rows] == [('matmul', 'skipped'),
                                                     ('landauer_best', 'skipped')]
  assert '`landauer_best`: skipped — --time_budget_s=0 spent' in (out / 'b.md').read_text()


def test_a_failing_row_is_recorded_and_the_run_goes_on(tmp_path):
  result = _run(['--rows=matmul,landauer_original', f'--output_json={tmp_path}/b.json'],
                tmp_path, env={benchmark_device.FAIL_ROWS_ENV: 'matmul'})
  assert result.returncode == 0, result.stderr[-3000:]
  matmul, landauer = json.loads((tmp_path / 'b.json').read_text())['rows']
  assert matmul['status'] == 'error' and 'failing on purpose' in matmul['error']
  assert 'Traceback' in matmul['traceback']
  assert landauer['status'] == 'ok' and landauer['sampling']['chars_per_s'] > 0
  assert landauer['fraction_of_bf16_matmul'] is None  # No matmul rate to compare with.
  assert 'matmul: error (RuntimeError' in result.stdout
  assert '| landauer_original |' in result.stdout


def _imported(modules: str) -> list[str]:
  code = (f'import json, sys; import {modules}; '
          f'print(json.dumps([m for m in {ABSENT_ON_GPU!r} if m in sys.modules]))')
  done = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=120, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_script_imports_no_input_pipeline():
  assert _imported('scripts.benchmark_device') == []


def test_the_rows_import_no_input_pipeline():
  """What the rows' child processes import (the GPU machine has none of ABSENT_ON_GPU)."""
  assert _imported('scripts.benchmark_device, fieldjax.train, landauerjax.train, '
                   'landauerjax.sampling, experiments.configs.field_best') == []


@pytest.mark.slow
def test_quick_run_measures_every_row_and_writes_nothing(tmp_path):
  before = sorted(p.name for p in (REPO_ROOT / 'docs').iterdir())
  result = _run([], tmp_path, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.startswith('benchmark_device on cpu')
  for row in benchmark_device.ROWS:
    assert f'{row}: ' in result.stdout
    if row != 'matmul':
      assert f'| {row} |' in result.stdout
  assert 'Rows without a result' not in result.stdout
  assert 'QUICK RUN' in result.stdout and 'projected wall time' in result.stdout
  assert sorted(p.name for p in (REPO_ROOT / 'docs').iterdir()) == before
  assert not (REPO_ROOT / 'docs' / 'benchmark_device.json').exists()
