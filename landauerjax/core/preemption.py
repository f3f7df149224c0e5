"""Stopping a training run cleanly when the cluster (or the user) says stop.

Schedulers stop a job with SIGTERM (SLURM, Kubernetes, preemptible VMs), and
then, after a grace period, with SIGKILL; a user presses Ctrl-C (SIGINT).
While `StopSignals` is active, the first of these signals only records the
request: the training loop (`core.loop.train_loop`) finishes the step it is
in, saves a verified checkpoint of it, writes its metrics line and raises
`Preempted`; the command line releases the workdir's lock and exits with
`EXIT_CODE`. Running the same command again resumes from that step, as if the
run had not stopped. A second signal stops at once, without saving (for
SIGINT: KeyboardInterrupt, as without this module; for SIGTERM: whatever
handler was installed before, by default the process's death).

Many processes (`core.distributed`) must stop at the same step, since each
step is one collective computation: `StopSignals.agreed` makes every process
share its request (one all-gather of a flag) at the steps where the loop reads
metrics back anyway (log, evaluation and save steps), and all stop at the
first such step after any of them was signalled. One process looks at every
step, and needs no exchange.

Signals reach only the main thread: elsewhere `StopSignals` does nothing.
Imports no model.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from absl import logging
import jax
import numpy as np

# sysexits.h's EX_TEMPFAIL ("temporary failure; the user is invited to retry"):
# a preempted run is not failed, and running it again resumes it.
EXIT_CODE = 75
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
  """A run stopped on request after saving a verified checkpoint of `step`.

  Not a failure: running the same command again resumes at `step`.
  """

  exit_code = EXIT_CODE

  def __init__(self, step: int, reason: str, checkpoint_dir: str):
    self.step, self.reason, self.checkpoint_dir = step, reason, checkpoint_dir
    super().__init__(
        f'stopped by {reason} after step {step}, whose checkpoint is saved and verified in '
        f'{checkpoint_dir}; run the same command again to resume.')


class StopSignals:
  """A context in which SIGTERM and SIGINT request a clean stop instead of killing.

  `received` names the first signal seen ('' while none), e.g. 'SIGTERM'. The
  handlers that were installed before are restored on exit, and receive any
  second signal.
  """

  def __init__(self, signals: tuple[int, ...] = SIGNALS):
    self.signals = tuple(signals)
    self.received = ''
    self._previous: dict[int, Any] = {}

  def __enter__(self) -> 'StopSignals':
    if threading.current_thread() is threading.main_thread():
      for signum in self.signals:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info: Any) -> None:
    self._restore()

  def _restore(self) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous = {}

  def _handle(self, signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if not self.received:
      self.received = name
      logging.warning('%s received: stopping after the current step, with a saved checkpoint '
                      '(send it again to stop at once, without saving).', name)
      return
    # A second signal: the caller wants out now. Hand it to the handlers from before.
    previous = self._previous.get(signum, signal.SIG_DFL)
    self._restore()
    if callable(previous):
      previous(signum, frame)
    elif signum == signal.SIGINT and previous == signal.SIG_DFL:
      raise KeyboardInterrupt
    elif previous == signal.SIG_DFL:
      signal.raise_signal(signum)

  def agreed(self, check_all: bool) -> bool:
    """Whether the run stops after this step; the same answer on every process.

    Args:
      check_all: whether this step is one where every process exchanges its
        request (the loop's read-back steps). One process ignores it: it
        looks at every step.
    """
    if jax.process_count() == 1:
      return bool(self.received)
    if not check_all:
      return False
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    flags = multihost_utils.process_allgather(np.asarray([bool(self.received)], np.int32))
    stop = bool(np.max(np.asarray(flags)))
    if stop and not self.received:
      self.received = 'a signal to another process'
    return stop
