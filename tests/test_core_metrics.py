"""landauerjax.core.metrics: append-only metrics.jsonl, rollback on resume, torn lines."""

from __future__ import annotations

import json
import math
import os

from landauerjax.core import metrics


def _lines(workdir) -> list[dict]:
  with open(metrics.metrics_path(str(workdir))) as f:
    return [json.loads(line) for line in f]


def _write(workdir, resume_step, steps):
  with metrics.MetricsWriter(str(workdir), resume_step) as writer:
    for step in steps:
      writer.write({'step': step, 'loss': float(step)})


def test_lines_are_appended_and_committed(tmp_path):
  writer = metrics.MetricsWriter(str(tmp_path), 0)
  writer.write({'step': 1, 'loss': 2.5})
  writer.commit()  # On disk now, before close.
  assert _lines(tmp_path) == [{'step': 1, 'loss': 2.5}]
  writer.write({'step': 2, 'loss': 2.0})
  writer.close()
  assert [r['step'] for r in _lines(tmp_path)] == [1, 2]


def test_non_finite_values_are_written_as_null(tmp_path):
  _write(tmp_path, 0, [])
  with metrics.MetricsWriter(str(tmp_path), 0) as writer:
    writer.write({'step': 1, 'loss': math.nan, 'x': math.inf})
  text = open(metrics.metrics_path(str(tmp_path))).read()
  assert 'NaN' not in text and 'Infinity' not in text
  assert _lines(tmp_path) == [{'step': 1, 'loss': None, 'x': None}]


def test_resume_cuts_off_lines_after_the_checkpoint_with_one_truncate(tmp_path, caplog):
  _write(tmp_path, 0, [1, 2, 3, 4, 5])
  inode = os.stat(metrics.metrics_path(str(tmp_path))).st_ino
  _write(tmp_path, 3, [4, 5, 6])
  assert [r['step'] for r in _lines(tmp_path)] == [1, 2, 3, 4, 5, 6]
  # The same file (truncated and appended to), never a rewritten copy.
  assert os.stat(metrics.metrics_path(str(tmp_path))).st_ino == inode
  assert any('dropping the lines after step 3' in r.getMessage() for r in caplog.records)


def test_a_torn_last_line_is_dropped_with_a_warning(tmp_path, caplog):
  _write(tmp_path, 0, [1, 2])
  with open(metrics.metrics_path(str(tmp_path)), 'a') as f:
    f.write('{"step": 3, "lo')  # A kill in the middle of a write.
  assert [r['step'] for r in metrics.read_metrics(metrics.metrics_path(str(tmp_path)))] == [1, 2]
  _write(tmp_path, 5, [3])
  assert [r['step'] for r in _lines(tmp_path)] == [1, 2, 3]
  assert any('torn line' in r.getMessage() for r in caplog.records)


def test_lines_of_a_run_that_never_saved_are_dropped(tmp_path):
  _write(tmp_path, 0, [1, 2])
  _write(tmp_path, 0, [1])
  assert [r['step'] for r in _lines(tmp_path)] == [1]


def test_read_metrics_of_a_missing_file_is_empty(tmp_path):
  assert metrics.read_metrics(str(tmp_path / 'none.jsonl')) == []
