"""A workdir holds one run: one writer at a time, and resume checks against its record.

* `WorkdirLock`: an exclusive `flock` on WORKDIR/.lock for the whole run. A
  second trainer on the same workdir is refused at once, naming the pid that
  holds it; the kernel drops the lock when its holder dies (even by kill -9),
  so a lock left by a killed run never blocks the next one.
* `run_record` / `check_resume`: a run is identified by its flattened config
  and a fingerprint of its data (`data_fingerprint`). Resuming compares the
  new request with the record saved in the checkpoint it resumes from and
  refuses any difference, listing the changed keys, except the keys a user
  extends a run with (step count, cadences); `allow_changes` accepts the rest.
* `write_json`: config.json and the like, written atomically (tmp + rename).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

from absl import logging
import numpy as np

from landauerjax.core import distributed
from landauerjax.core import errors

LOCK_FILE = '.lock'


class WorkdirLock:
  """`with WorkdirLock(workdir):` holds the workdir for one writer; see the module docstring."""

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)
    self.path = os.path.join(self.workdir, LOCK_FILE)
    self._fd: int | None = None

  def acquire(self) -> None:
    """Takes the lock (process 0 of a multi-process run; the others hold nothing)."""
    if not distributed.is_primary():
      return
    try:
      os.makedirs(self.workdir, exist_ok=True)
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise errors.WorkdirError(
          f'Cannot use {self.workdir} as a workdir ({e.strerror}): give a directory you can '
          'write to.') from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      holder = _read_holder(fd)
      os.close(fd)
      raise errors.WorkdirError(
          f'Workdir {self.workdir} is in use by pid {holder.get("pid", "?")} on '
          f'{holder.get("host", "?")} (since {holder.get("since", "?")}); wait for '
          'that run to end, or use another --workdir.') from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({
        'pid': os.getpid(), 'host': socket.gethostname(),
        'since': time.strftime('%Y-%m-%d %H:%M:%S'), 'argv': sys.argv}).encode())
    os.fsync(fd)
    self._fd = fd

  def release(self) -> None:
    if self._fd is not None:
      fcntl.flock(self._fd, fcntl.LOCK_UN)
      os.close(self._fd)
      self._fd = None

  def __enter__(self) -> 'WorkdirLock':
    self.acquire()
    return self

  def __exit__(self, *exc: Any) -> None:
    self.release()


def _read_holder(fd: int) -> dict[str, Any]:
  try:
    os.lseek(fd, 0, os.SEEK_SET)
    return json.loads(os.read(fd, 1 << 16) or b'{}')
  except (OSError, ValueError):
    return {}


def write_json(path: str, obj: Any) -> None:
  """Writes JSON to `path` atomically: a kill leaves the old file or the new one.

  Process 0 writes; the others of a multi-process run do nothing.
  """
  text = json.dumps(obj, indent=2, allow_nan=False) + '\n'  # Fails before any file is made.
  if not distributed.is_primary():
    return
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'w') as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def data_fingerprint(*arrays: np.ndarray, extra: Any = None) -> str:
  """sha256 of token arrays (dtype, shape and bytes) and of any JSON-able `extra`
  (e.g. the vocabulary): two runs on other data get other fingerprints."""
  digest = hashlib.sha256()
  for array in arrays:
    array = np.ascontiguousarray(array)
    digest.update(f'{array.dtype.str}{array.shape}'.encode())
    digest.update(array.tobytes())
  digest.update(json.dumps(extra, sort_keys=True).encode())
  return digest.hexdigest()


def flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  """{'a': {'b': 1}} -> {'a.b': 1}; lists and tuples are compared as lists."""
  flat = {}
  for key, value in tree.items():
    name = f'{prefix}{key}'
    if isinstance(value, Mapping):
      flat.update(flatten(value, name + '.'))
    else:
      flat[name] = list(value) if isinstance(value, tuple) else value
  return flat


def run_record(config: Mapping[str, Any], data: str) -> dict[str, Any]:
  """What identifies a run: its config (flattened) and its data fingerprint."""
  return {'config': flatten(config), 'data_fingerprint': data}


def changed_keys(saved: Mapping[str, Any], wanted: Mapping[str, Any],
                 ignore: Iterable[str] = ()) -> list[tuple[str, Any, Any]]:
  """(key, saved value, wanted value) of the flat keys that differ, except `ignore`d ones."""
  ignore = set(ignore)
  missing = object()
  changes = []
  for key in sorted(set(saved) | set(wanted)):
    if key in ignore:
      continue
    old, new = saved.get(key, missing), wanted.get(key, missing)
    if old != new:
      changes.append((key, None if old is missing else old, None if new is missing else new))
  return changes


def check_resume(saved: Mapping[str, Any] | None, wanted: Mapping[str, Any], *,
                 extendable: Iterable[str], allow_changes: bool, workdir: str,
                 step: int, hints: Mapping[str, str] | None = None,
                 shape_mismatch: str | None = None) -> list[str]:
  """Refuses to resume a run recorded as `saved` with the request `wanted`.

  Args:
    saved: the `run_record` stored with the checkpoint resumed from (None for
      a checkpoint written before run records existed: only a warning).
    wanted: the `run_record` of this request.
    extendable: flat config keys that may change (e.g. 'train.num_steps').
    allow_changes: accept every other change too, with a warning.
    workdir, step: for the message.
    hints: why a key may not change, said when it did (e.g. {'train.num_steps':
      'the cosine learning-rate schedule depends on it'}).
    shape_mismatch: how the checkpoint's arrays differ from this run's
      (`checkpoints.shape_mismatch`), if they do: refused even with
      allow_changes, since nothing can resume them.

  Returns:
    The changed keys that were accepted.

  Raises:
    errors.WorkdirError: listing the changed keys, unless allow_changes.
    errors.CheckpointError: other shapes, and no recorded change to name them.
  """
  if saved is not None:
    changes = changed_keys(saved.get('config', {}), wanted['config'], extendable)
    if saved.get('data_fingerprint') != wanted['data_fingerprint']:
      changes.append(('data', str(saved.get('data_fingerprint'))[:12],
                      wanted['data_fingerprint'][:12]))
  if shape_mismatch is not None and (saved is None or not changes):
    raise errors.CheckpointError(
        f'Checkpoint step {step} of {workdir} holds a model of other shapes than this '
        f'config\'s ({shape_mismatch}): no setting resumes it; use another --workdir.')
  if saved is None:
    logging.warning('Checkpoint step %d of %s has no run record (an older version wrote '
                    'it): its config and data cannot be checked.', step, workdir)
    return []
  if not changes:
    return []
  hints = hints or {}
  detail = '; '.join(
      f'data: sha256 {old} -> {new}' if k == 'data' else
      f'{k}: {old!r} -> {new!r}' + (f' ({hints[k]})' if k in hints else '')
      for k, old, new in changes)
  if shape_mismatch is not None:
    raise errors.WorkdirError(
        f'Workdir {workdir} holds a run with other settings (resuming from step {step}): '
        f'{detail}. They change the model\'s shapes ({shape_mismatch}), so no setting '
        'resumes it: use another --workdir.')
  if not allow_changes:
    raise errors.WorkdirError(
        f'Workdir {workdir} holds a run with other settings (resuming from step {step}): '
        f'{detail}. Use another --workdir, or pass --allow_config_change to resume '
        'with the new settings anyway.')
  logging.warning('Resuming from step %d with changed settings (--allow_config_change): %s',
                  step, detail)
  return [k for k, _, _ in changes]
