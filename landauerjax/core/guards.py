"""Stopping a run that went bad, before anything bad is saved, with a true message.

`Guard` is what both trainers check their losses and states against: a
non-finite value, or a loss above `divergence_factor` x ln V (ln V: the loss
of a uniform guess over V tokens, which every run starts near), stops the run
with `errors.TrainingStopped` naming the step, the reason and the newest
checkpoint that really verifies.
"""

from __future__ import annotations

import math
from typing import Any

from landauerjax.core import checkpoints
from landauerjax.core import errors


class Guard:
  """Checks of one run.

  Args:
    store: the run's checkpoints (to name the one that is kept).
    vocab_size: V.
    divergence_factor: the multiple of ln V a loss may not exceed; 0 turns
      the divergence check off (non-finite values are always stopped).
    advice: what to do, appended to every stop message.
  """

  def __init__(self, store: checkpoints.CheckpointStore, vocab_size: int,
               divergence_factor: float, advice: str = ''):
    self.store = store
    self.factor = float(divergence_factor)
    self.max_loss = self.factor * math.log(vocab_size) if self.factor > 0 else math.inf
    self.advice = advice

  def stop(self, step: int, reason: str) -> errors.TrainingStopped:
    """The error to raise: names the newest checkpoint whose files verify."""
    good = self.store.latest_verified_step()
    kept = (f'the last good checkpoint, step {good}, is kept in {self.store.directory}'
            if good is not None else 'no checkpoint had been saved yet')
    return errors.TrainingStopped(f'Training stopped at step {step}: {reason}; {kept}.'
                                  + (f' {self.advice}' if self.advice else ''))

  def check_loss(self, step: int, what: str, loss: float) -> None:
    """Stops on a non-finite or diverged training loss (`what` names it)."""
    if not math.isfinite(loss):
      raise self.stop(step, f'non-finite {what} ({loss})')
    if loss > self.max_loss:
      raise self.stop(step, f'the {what} diverged ({loss:.4g} > divergence_factor '
                      f'{self.factor:g} x ln V = {self.max_loss:.4g})')

  def check_finite(self, step: int, what: str, values: dict[str, float]) -> None:
    """Stops when any of `values` (e.g. a step's metrics) is not finite."""
    if not all(math.isfinite(v) for v in values.values()):
      raise self.stop(step, f'non-finite {what} ({values})')

  def check_state(self, step: int, state: Any) -> None:
    """Stops when any float of `state` is NaN or infinite."""
    bad = checkpoints.nonfinite_leaves(state)
    if bad:
      raise self.stop(step, f'the update made {", ".join(bad[:3])} non-finite')
