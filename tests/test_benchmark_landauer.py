"""scripts/benchmark_landauer.py runs end to end (a smoke run; it asserts no timings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

# A real benchmark run in a subprocess: the slow CI step (pytest -m slow).
pytestmark = pytest.mark.slow


def test_quick_benchmark_writes_its_section_and_json(tmp_path):
  md, out = tmp_path / 'BENCH.md', tmp_path / 'bench.json'
  md.write_text('# Benchmarks\n\nProse kept as is.\n')
  result = subprocess.run(
      [sys.executable, '-m', 'scripts.benchmark_landauer', '--quick',
       '--configs=landauer_original,landauer_original_bf16', '--torch=false',
       '--memory_lengths=300', f'--output_md={md}', f'--output_json={out}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads(out.read_text())
  assert [r['config'] for r in results['train']] == ['landauer_original', 'landauer_original_bf16']
  assert all(r['ms_per_step'] > 0 for r in results['train'])
  # Each config is re-timed in a child with scans compiled as one function.
  assert sorted(results['hoisted_loops']) == ['landauer_original', 'landauer_original_bf16']
  assert all(v['train']['ms_per_step'] > 0 and v['generate']['chars_per_s'] > 0
             for v in results['hoisted_loops'].values())
  assert results['memory'][0]['chars'] == 300
  text = md.read_text()
  assert 'Prose kept as is.' in text and 'smoke run: not a benchmark' in text
