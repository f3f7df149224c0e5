"""scripts/benchmark_device.py runs end to end on the CPU (a smoke run; no timings asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO_ROOT


@pytest.mark.slow
def test_quick_run_prints_every_row_and_writes_nothing(tmp_path):
  before = sorted(p.name for p in (REPO_ROOT / 'docs').iterdir())
  result = subprocess.run([sys.executable, '-m', 'scripts.benchmark_device', '--quick'],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  for name in ('landauer_original', 'landauer_original_bf16', 'landauer_best'):
    assert f'| `{name}` |' in result.stdout
  for size in ('small', 'base', 'large'):
    assert f'\n| {size} |' in result.stdout
  assert 'QUICK RUN' in result.stdout
  assert sorted(p.name for p in (REPO_ROOT / 'docs').iterdir()) == before
