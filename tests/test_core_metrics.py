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


def _events(workdir) -> list:
  """Every Event proto of WORKDIR/tensorboard (TFRecord framing: length, crc, data, crc)."""
  import glob  # pylint: disable=g-import-not-at-top
  import struct  # pylint: disable=g-import-not-at-top
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  events = []
  for path in sorted(glob.glob(os.path.join(str(workdir), 'tensorboard', 'events.*'))):
    data = open(path, 'rb').read()
    offset = 0
    while offset < len(data):
      (length,) = struct.unpack('<Q', data[offset:offset + 8])
      event = event_pb2.Event()
      event.ParseFromString(data[offset + 12:offset + 12 + length])
      events.append(event)
      offset += 12 + length + 4
  return events


def _scalars(workdir) -> list[tuple[int, str, float]]:
  return [(e.step, v.tag, v.simple_value) for e in _events(workdir) for v in e.summary.value]


def test_tensorboard_gets_every_numeric_field(tmp_path):
  with metrics.MetricsWriter(str(tmp_path), 0) as writer:
    writer.write({'step': 1, 'loss': 2.5, 'kind': 'levy', 'tokens': 7})
    writer.write({'step': 2, 'loss': 2.0})
  assert sorted(_scalars(tmp_path)) == [(1, 'loss', 2.5), (1, 'tokens', 7.0), (2, 'loss', 2.0)]


def test_a_resumed_run_purges_the_later_tensorboard_steps(tmp_path):
  _write(tmp_path, 0, [1, 2, 3, 4])
  _write(tmp_path, 2, [3, 4])
  # TensorBoard hides events at steps >= a SessionLog START's step written before them.
  starts = [e.step for e in _events(tmp_path) if e.session_log.status == 1]
  assert starts == [1, 3]


def test_writer_without_tensorboard(tmp_path):
  with metrics.MetricsWriter(str(tmp_path), 0, tensorboard=False) as writer:
    writer.write({'step': 1, 'loss': 1.0})
  assert not os.path.exists(os.path.join(str(tmp_path), 'tensorboard'))
