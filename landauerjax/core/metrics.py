"""WORKDIR/metrics.jsonl: one JSON object per line, append-only and crash-safe;
the same numbers as TensorBoard scalars in WORKDIR/tensorboard/.

Each line carries a `step`. A training run appends lines and, at every
checkpoint, flushes them to disk (`commit`) BEFORE the checkpoint is saved: so
every line of a step up to the newest checkpoint is on disk once that
checkpoint exists, whatever kills the process afterwards.

Resuming from the checkpoint of step S keeps the file's prefix of lines with
step <= S and cuts off the rest with one `truncate` (never a rewrite, so no
kill can empty the file): those later lines were written by the run that died
after its last checkpoint, and the resumed run writes them again, with the same
values (batches are a pure function of the step). A torn last line (a kill in
the middle of a write) is cut off the same way, with a warning.

TensorBoard: every numeric field of a record is also written as a scalar (tag
= field name) to event files in WORKDIR/tensorboard/, through tensorboardX (no
TensorFlow needed). A resumed run opens its writer with purge_step = S + 1, so
TensorBoard hides the events of later steps that the dead run left, exactly as
metrics.jsonl drops their lines.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

from absl import logging

from landauerjax.core import distributed

FILENAME = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'


def metrics_path(workdir: str) -> str:
  return os.path.join(workdir, FILENAME)


def _parse(line: bytes) -> dict[str, Any] | None:
  """The record of one complete line, or None when it is torn or not a record."""
  if not line.endswith(b'\n'):
    return None
  try:
    record = json.loads(line)
  except ValueError:
    return None
  if not isinstance(record, dict) or not isinstance(record.get('step'), int):
    return None
  return record


def read_metrics(path: str) -> list[dict[str, Any]]:
  """All records of a metrics.jsonl; a torn or garbled line ends the list, with a warning."""
  records = []
  if not os.path.exists(path):
    return records
  with open(path, 'rb') as f:
    for number, line in enumerate(f, start=1):
      record = _parse(line)
      if record is None:
        logging.warning('%s: line %d is torn or not a metrics record; ignoring it and '
                        'what follows.', path, number)
        break
      records.append(record)
  return records


def _committed_prefix(path: str, resume_step: int) -> tuple[int, int, bool]:
  """(bytes, lines) of the prefix of lines with step <= resume_step; and whether it
  stopped at a torn line."""
  offset = lines = 0
  with open(path, 'rb') as f:
    for line in f:
      record = _parse(line)
      if record is None:
        return offset, lines, True
      if record['step'] > resume_step:
        break
      offset += len(line)
      lines += 1
  return offset, lines, False


def _finite(value: Any) -> Any:
  """JSON has no NaN or Infinity: non-finite floats are written as null."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


class MetricsWriter:
  """Appends records to WORKDIR/metrics.jsonl; see the module docstring.

  Args:
    workdir: the run's directory.
    resume_step: the step of the checkpoint the run starts from (0 for a new
      run): lines of later steps, and a torn last line, are cut off.
    tensorboard: also write TensorBoard event files to WORKDIR/tensorboard/.
  """

  def __init__(self, workdir: str, resume_step: int, *, tensorboard: bool = True):
    self.path = metrics_path(workdir)
    self._tensorboard = None
    self._file = None
    if not distributed.is_primary():  # Process 0 writes the run's metrics.
      return
    if tensorboard:
      import tensorboardX  # pylint: disable=g-import-not-at-top  # Only writers need it.
      self._tensorboard = tensorboardX.SummaryWriter(
          logdir=os.path.join(workdir, TENSORBOARD_DIR), purge_step=resume_step + 1,
          flush_secs=30,
          # Event files are named by the second: a unique suffix keeps a run resumed
          # within the same second from overwriting the last one's file.
          filename_suffix=f'.{os.getpid()}.{time.time_ns()}')
    if os.path.exists(self.path):
      size = os.path.getsize(self.path)
      keep, lines, torn = _committed_prefix(self.path, resume_step)
      if keep < size:
        if torn:
          logging.warning('%s: dropping a torn line after line %d (a write cut off by '
                          'a kill).', self.path, lines)
        else:
          logging.warning('%s: dropping the lines after step %d (written after the '
                          'checkpoint this run resumes from; they are written again).',
                          self.path, resume_step)
        os.truncate(self.path, keep)
    self._file = open(self.path, 'a', encoding='utf-8')

  def write(self, record: dict[str, Any]) -> None:
    """Appends one record (must have an int 'step'); non-finite floats become null."""
    line = json.dumps({k: _finite(v) for k, v in record.items()}, allow_nan=False)
    if self._file is None:
      return
    self._file.write(line + '\n')
    if self._tensorboard is not None:
      for key, value in record.items():
        if key != 'step' and isinstance(value, (int, float)) and not isinstance(value, bool):
          self._tensorboard.add_scalar(key, value, global_step=record['step'])

  def commit(self) -> None:
    """Puts every record written so far on disk (flush + fsync; TensorBoard: flush)."""
    if self._file is None:
      return
    self._file.flush()
    os.fsync(self._file.fileno())
    if self._tensorboard is not None:
      self._tensorboard.flush()

  def close(self) -> None:
    if self._file is not None and not self._file.closed:
      self.commit()
      self._file.close()
    if self._tensorboard is not None:
      self._tensorboard.close()
      self._tensorboard = None

  def __enter__(self) -> 'MetricsWriter':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()
