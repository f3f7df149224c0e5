"""Orbax checkpoints that are verified on every restore and never hold a non-finite value.

Layout: `WORKDIR/checkpoints/<step>/` holds orbax's items (`state`, a pytree
of arrays, and `meta`, JSON) and `sha256.json`, the sha256 and size of every
other file of the step, written once orbax has committed the step. The
guarantees (docs/RELIABILITY.md):

* Every restore first checks every file of the step against `sha256.json`
  (a missing, extra, truncated or changed file, or no manifest at all, makes
  the step unusable) and then that every restored float is finite.
* `restore_latest` falls back from an unusable step to the next older one,
  saying so in one log line; asked for one step, it refuses instead.
* `save` refuses a state with a NaN or infinity (naming the leaf), writes
  synchronously, and deletes old steps only after the new one verifies.

Orbax does the writing (atomically: a temporary directory renamed on commit)
and the reading; this module owns which step directories exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from typing import Any, Callable, TypeVar

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from landauerjax.core import distributed
from landauerjax.core import errors
from landauerjax.core import text_files

MANIFEST = 'sha256.json'
_ORBAX_TMP = '.orbax-checkpoint-tmp'
_DELETING = '.deleting-'
T = TypeVar('T')


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), 'checkpoints')


class UnusableCheckpoint(errors.CheckpointError):
  """One step that cannot be restored (corrupt, unverified, non-finite). Fallback skips it."""

  def __init__(self, step: int, reason: str):
    super().__init__(f'checkpoint step {step} is unusable: {reason}')
    self.step = step
    self.reason = reason


class NonFiniteState(errors.TrainingStopped):
  """A state with a NaN or infinity, refused by `save`."""

  def __init__(self, step: int, leaves: list[str]):
    shown = ', '.join(leaves[:3]) + (f' and {len(leaves) - 3} more' if len(leaves) > 3 else '')
    super().__init__(f'the state of step {step} is not finite ({shown})')
    self.step = step
    self.leaves = leaves


# ---------------------------------------------------------------------------
# Finite checks and the manifest.
# ---------------------------------------------------------------------------


def _leaf_name(path: tuple[Any, ...]) -> str:
  return '/'.join(str(getattr(k, 'key', getattr(k, 'idx', getattr(k, 'name', k))))
                  for k in path)


@jax.jit
def _finite_flags(tree: Any) -> Any:
  return jax.tree.map(
      lambda x: jnp.all(jnp.isfinite(x)) if jnp.issubdtype(x.dtype, jnp.inexact)
      else jnp.bool_(True), tree)


def nonfinite_leaves(tree: Any) -> list[str]:
  """Paths ('params/layer_0/scale', ...) of the float leaves holding a NaN or an inf.

  One jitted reduction per leaf and a single read-back of the flags.
  """
  arrays = jax.tree.map(jnp.asarray, tree)
  flags = jax.device_get(_finite_flags(arrays))
  flat, _ = jax.tree_util.tree_flatten_with_path(flags)
  return [_leaf_name(path) for path, ok in flat if not bool(ok)]


def shape_mismatch(saved: Any, wanted: Any) -> str | None:
  """How two pytrees (arrays or ShapeDtypeStructs) differ in their leaves' names,
  shapes or dtypes (a state that cannot be restored into the other), or None."""
  def table(tree):
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {_leaf_name(p): (tuple(np.shape(x)), str(jnp.result_type(x))) for p, x in flat}
  a, b = table(saved), table(wanted)
  diff = [f'{k}: {a.get(k, "absent")} vs {b.get(k, "absent")}'
          for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
  if not diff:
    return None
  return '; '.join(diff[:3]) + ('; ...' if len(diff) > 3 else '')


def _files_of(step_dir: str) -> list[str]:
  """Relative paths of the files of a step directory, manifest excluded, sorted."""
  files = []
  for root, _, names in os.walk(step_dir):
    for name in names:
      rel = os.path.relpath(os.path.join(root, name), step_dir)
      if rel != MANIFEST:
        files.append(rel)
  return sorted(files)


def write_manifest(step_dir: str) -> None:
  """Writes `step_dir/sha256.json` (sha256 and size of every file), atomically."""
  files = {rel: {'sha256': text_files.file_sha256(os.path.join(step_dir, rel)),
                 'bytes': os.path.getsize(os.path.join(step_dir, rel))}
           for rel in _files_of(step_dir)}
  tmp = os.path.join(step_dir, MANIFEST + '.tmp')
  with open(tmp, 'w') as f:
    json.dump({'format': 1, 'files': files}, f, indent=1, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(step_dir, MANIFEST))


def verify(step_dir: str, step: int) -> None:
  """Raises UnusableCheckpoint naming the first file that does not match the manifest."""
  path = os.path.join(step_dir, MANIFEST)
  if not os.path.isdir(step_dir):
    raise UnusableCheckpoint(step, f'{step_dir} is not a directory')
  if not os.path.exists(path):
    raise UnusableCheckpoint(step, f'no {MANIFEST} in {step_dir} (its save did not finish, '
                             'or a version without checksums wrote it: `python -m '
                             'scripts.adopt_checkpoints --workdir=...` checks and adopts such '
                             'steps)')
  try:
    with open(path) as f:
      files = json.load(f)['files']
    expected = {rel: (entry['sha256'], int(entry['bytes'])) for rel, entry in files.items()}
  except (ValueError, KeyError, TypeError, AttributeError):
    raise UnusableCheckpoint(step, f'{path} is garbled') from None
  present = set(_files_of(step_dir))
  for rel, (digest, size) in sorted(expected.items()):
    full = os.path.join(step_dir, rel)
    if rel not in present:
      raise UnusableCheckpoint(step, f'{full} is missing')
    try:
      actual_size = os.path.getsize(full)
      actual_digest = text_files.file_sha256(full) if actual_size == size else None
    except OSError as e:  # E.g. deleted by a trainer's pruning while we read it.
      raise UnusableCheckpoint(step, f'{full} cannot be read ({e.strerror})') from None
    if actual_size != size:
      raise UnusableCheckpoint(step, f'{full} has {actual_size} bytes, {size} when saved')
    if actual_digest != digest:
      raise UnusableCheckpoint(step, f'{full} does not match its sha256 (corrupt)')
  extra = sorted(present - expected.keys())
  if extra:
    raise UnusableCheckpoint(step, f'{os.path.join(step_dir, extra[0])} was not in the '
                             'checkpoint when it was saved')


@contextlib.contextmanager
def deferred_interrupts():
  """Holds SIGINT and SIGTERM back until the block ends, then delivers them.

  A save interrupted half-way would leave orbax's background threads mid-write;
  deferring the signal lets the step finish (seconds at most) and be verified.
  Each signal then reaches the handler that was installed before the block, in
  the order received (the default for SIGINT raises KeyboardInterrupt; the
  training loop's asks for a stop after this save: `core.preemption`). Only the
  main thread receives signals; elsewhere this does nothing.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  received: list[int] = []
  held = (signal.SIGINT, signal.SIGTERM)
  previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum))
              for signum in held}
  try:
    yield
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)
  for signum in received:
    signal.raise_signal(signum)  # Runs the restored handler now (CPython checks at once).


# ---------------------------------------------------------------------------
# The store.
# ---------------------------------------------------------------------------


class CheckpointStore:
  """The checkpoints of one workdir: `WORKDIR/checkpoints/<step>/`.

  Args:
    workdir: the run's directory.
    keep: how many verified steps `save` keeps (older ones are deleted once a
      newer step verifies); None keeps all. Only a writer saves.
  """

  def __init__(self, workdir: str, keep: int | None = None):
    self.workdir = os.path.abspath(workdir)
    self.directory = checkpoint_dir(workdir)
    self.keep = keep

  # Reading.

  def steps(self) -> list[int]:
    """Committed steps, oldest first (orbax renames a step's directory on commit)."""
    if not os.path.isdir(self.directory):
      return []
    return sorted(int(name) for name in os.listdir(self.directory)
                  if name.isdigit() and os.path.isdir(os.path.join(self.directory, name)))

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def verify(self, step: int) -> None:
    verify(self.step_dir(step), step)

  def read_meta(self, step: int) -> dict[str, Any]:
    """The JSON meta of a step (verified first)."""
    self.verify(step)
    try:
      restored = ocp.Checkpointer(ocp.CompositeCheckpointHandler()).restore(
          self.step_dir(step), args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
      meta = restored['meta']
    except Exception as e:  # pylint: disable=broad-except  # Orbax raises many types.
      raise UnusableCheckpoint(step, f'its meta cannot be read ({type(e).__name__})') from e
    if not isinstance(meta, dict):
      raise UnusableCheckpoint(step, 'its meta is not a JSON object')
    return meta

  def restore_state(self, step: int, abstract_state: Any, *, partial: bool = False) -> Any:
    """The `state` item of a step, shaped like `abstract_state` (arrays or
    ShapeDtypeStructs); with `partial`, only the keys `abstract_state` has.

    Verify the step first (`read_meta` does). Raises UnusableCheckpoint when
    orbax cannot read it or a float in it is not finite.
    """
    if partial:
      args = ocp.args.PyTreeRestore(
          item=abstract_state, partial_restore=True,
          restore_args=ocp.checkpoint_utils.construct_restore_args(abstract_state))
    else:
      args = ocp.args.StandardRestore(abstract_state)
    try:
      state = ocp.Checkpointer(ocp.CompositeCheckpointHandler()).restore(
          self.step_dir(step), args=ocp.args.Composite(state=args))['state']
    except Exception as e:  # pylint: disable=broad-except  # Orbax raises many types.
      if not os.path.isdir(self.step_dir(step)):
        raise UnusableCheckpoint(step, 'it was deleted while being read') from e
      # Its files verified: what is stored is intact but not what was asked for.
      detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
      raise errors.CheckpointError(
          f'Checkpoint step {step} of {self.workdir} holds another state structure than '
          f'this run expects ({detail}): it was written with other settings (e.g. another '
          'optimizer or model); use those, or another --workdir.') from e
    bad = nonfinite_leaves(state)
    if bad:
      raise UnusableCheckpoint(step, f'non-finite values in {", ".join(bad[:3])}')
    return state

  def restore_latest(self, load: Callable[[int], T], *, step: int | None = None
                     ) -> tuple[int, T] | None:
    """(step, load(step)) of the newest step that loads; None when there is none.

    `load(step)` reads and checks one step (e.g. `read_meta`, then
    `restore_state`), raising UnusableCheckpoint for a step to skip; any
    other error (e.g. a checkpoint of another model) is raised as is. An
    unusable step is reported in one warning line and the next older step is
    tried. With `step` given, only that step is tried, and it must load.

    Raises:
      errors.CheckpointError: the given step does not exist or is unusable, or
        steps exist but none of them loads.
    """
    steps = self.steps()
    if step is not None:
      if step not in steps:
        raise errors.CheckpointError(
            f'No checkpoint of step {step} in {self.directory}; it has steps '
            f'{steps or "none"}.')
      try:
        return step, load(step)
      except UnusableCheckpoint as e:
        raise errors.CheckpointError(
            f'{e}. Leave out --step to fall back to the newest checkpoint that verifies.'
        ) from e
    failures: dict[int, UnusableCheckpoint] = {}
    for _ in range(5):  # A trainer may delete steps while we read: then look again.
      vanished = False
      for candidate in reversed(steps):
        if candidate in failures:
          continue
        try:
          return candidate, load(candidate)
        except UnusableCheckpoint as e:
          if not os.path.isdir(self.step_dir(candidate)):
            vanished = True  # Pruned by a running trainer, not corrupt.
            break
          failures[candidate] = e
          older = [s for s in steps if s < candidate and s not in failures]
          logging.warning('%s; %s.', e, f'falling back to step {older[-1]}' if older
                          else 'no older checkpoint')
      if not vanished:
        break
      steps = self.steps()
    if not failures and not steps:
      return None
    raise errors.CheckpointError(
        f'No checkpoint in {self.directory} verifies '
        f'({"; ".join(str(failures[s]) for s in sorted(failures, reverse=True))}). Move the '
        'checkpoints away to start over, or use another --workdir.')

  def resume(self, load: Callable[[int], T], *, step: int | None = None
             ) -> tuple[int, T | None]:
    """What a trainer resumes from: (start, load(start)), or (0, None) for a new run.

    `restore_latest(load, step=step)`, then every step newer than the one
    resumed (unusable, or past the requested `step`) is moved aside
    (`set_aside`), so the run's saves never mix with them. Hold the workdir's lock.
    """
    restored = self.restore_latest(load, step=step)
    start, value = restored if restored is not None else (0, None)
    distributed.barrier('resume: restored')  # Everyone has read before anything moves.
    for newer in self.steps():
      if newer > start:
        self.set_aside(newer)
    distributed.barrier('resume: set aside')
    return start, value

  def latest_verified_step(self) -> int | None:
    """The newest step whose files match its manifest (hashes them), or None."""
    for step in reversed(self.steps()):
      try:
        self.verify(step)
      except UnusableCheckpoint:
        continue
      return step
    return None

  # Writing (hold the workdir's lock: `landauerjax.core.workdir.WorkdirLock`).

  def remove_unfinished_saves(self) -> None:
    """Deletes orbax's temporary directories of saves, and steps being deleted, that a
    kill interrupted (process 0; the others wait)."""
    if distributed.is_primary() and os.path.isdir(self.directory):
      for name in sorted(os.listdir(self.directory)):
        if _ORBAX_TMP in name or name.startswith(_DELETING):
          logging.warning('Removing %s, left by a killed run.', name)
          shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
    distributed.barrier('remove_unfinished_saves')

  def adopt(self) -> dict[int, str]:
    """Writes the manifest of every step that has none (e.g. written before checksums).

    Each such step must restore whole through orbax and hold only finite
    values; the manifest then records its files as they are now. Hold the
    workdir's lock. Returns {step: 'adopted' or the reason it was not}.
    """
    report = {}
    for step in self.steps():
      if os.path.exists(os.path.join(self.step_dir(step), MANIFEST)):
        continue
      try:
        state = ocp.Checkpointer(ocp.CompositeCheckpointHandler()).restore(
            self.step_dir(step), args=ocp.args.Composite(
                state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))['state']
      except Exception as e:  # pylint: disable=broad-except  # Orbax raises many types.
        report[step] = f'not adopted: orbax cannot read it ({type(e).__name__})'
        continue
      bad = nonfinite_leaves(state)
      if bad:
        report[step] = f'not adopted: non-finite values in {", ".join(bad[:3])}'
        continue
      write_manifest(self.step_dir(step))
      report[step] = 'adopted'
    return report

  def set_aside(self, step: int) -> str:
    """Moves a step out of the way into WORKDIR/checkpoints_set_aside/ (kept, never deleted).

    Process 0 moves it; with several processes, call `barrier` before reading again.
    """
    if not distributed.is_primary():
      return ''
    target_dir = os.path.join(self.workdir, 'checkpoints_set_aside')
    os.makedirs(target_dir, exist_ok=True)
    target = os.path.join(target_dir, f'{step}-{time.strftime("%Y%m%d-%H%M%S")}')
    while os.path.exists(target):
      target += '-1'
    os.replace(self.step_dir(step), target)
    logging.warning('Moved checkpoint step %d out of the way, to %s.', step, target)
    return target

  def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Saves `state` (a pytree of arrays) and `meta` (JSON) as step `step`.

    Refuses (NonFiniteState) a state with any NaN or infinity, before writing
    anything. Returns once the step is on disk with its manifest; then deletes
    the verified steps beyond the newest `keep`.
    """
    bad = nonfinite_leaves(state)
    if bad:
      raise NonFiniteState(step, bad)
    if distributed.is_primary():
      os.makedirs(self.directory, exist_ok=True)
      if os.path.exists(self.step_dir(step)):  # Left by a run that died after it.
        self.set_aside(step)
    distributed.barrier(f'save {step}: start')
    with deferred_interrupts():
      # Every process saves (orbax writes each process's shards and syncs them).
      ocp.Checkpointer(ocp.CompositeCheckpointHandler()).save(
          self.step_dir(step), args=ocp.args.Composite(
              state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
      if distributed.is_primary():
        write_manifest(self.step_dir(step))
        self._prune()
      distributed.barrier(f'save {step}: done')

  def _prune(self) -> None:
    if self.keep is None:
      return
    with_manifest = [s for s in self.steps()
                     if os.path.exists(os.path.join(self.step_dir(s), MANIFEST))]
    for step in with_manifest[:-self.keep] if self.keep > 0 else with_manifest:
      # Renamed first: a kill during the deletion leaves no half-deleted step behind.
      doomed = os.path.join(self.directory, f'{_DELETING}{step}-{os.getpid()}')
      os.replace(self.step_dir(step), doomed)
      shutil.rmtree(doomed, ignore_errors=True)

