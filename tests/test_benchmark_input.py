"""scripts/benchmark_input.py runs end to end (a smoke run; no timings asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO_ROOT


@pytest.mark.slow
def test_quick_run_prints_every_row_and_writes_nothing(small_corpus_path):
  before = sorted(p.name for p in (REPO_ROOT / 'docs').iterdir())
  result = subprocess.run([sys.executable, '-m', 'scripts.benchmark_input', '--quick',
                           f'--local_path={small_corpus_path}'], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  for row in ('char tokenizer, 1 thread', 'sentencepiece 64 tokenizer, 2 thread',
              'field LM `tiny`', 'field LM `small`'):
    assert row in result.stdout, result.stdout
  assert sorted(p.name for p in (REPO_ROOT / 'docs').iterdir()) == before
