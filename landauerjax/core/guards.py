"""Stopping a run that went bad, before anything bad is saved, with a true message.

`Guard` is what both trainers check their losses and states against: a
non-finite value, or a loss above `divergence_factor` x ln V (ln V: the loss
of a uniform guess over V tokens, which every run starts near), stops the run
with `errors.TrainingStopped` naming the step, the reason and the newest
checkpoint that really verifies.

`watch` checks every step's metrics on the device, so that the host need not
read them back every step (a read-back waits for the step): it keeps the first
bad step and its metrics, and `Guard.check_watch` raises for it when the loop
reads the watch back (at log, evaluation and save steps).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landauerjax.core import checkpoints
from landauerjax.core import errors

# {'step': int32 scalar, the first bad step (0: none yet), 'metrics': that step's metrics}.
Watch = dict[str, Any]


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

  def check_watch(self, watch: Watch, loss_key: str) -> None:
    """Stops at the first bad step a watch read back to the host holds, if any, with the
    message `check_loss` or `check_finite` gives for its metrics."""
    step = int(watch['step'])
    if step == 0:
      return
    metrics = {k: float(v) for k, v in watch['metrics'].items()}
    self.check_loss(step, loss_key, metrics[loss_key])
    self.check_finite(step, 'metrics', metrics)
    # Unreachable with the bound `watch_bound` gives, kept so that a flagged step always stops.
    raise self.stop(step, f'the {loss_key} diverged ({metrics[loss_key]:.4g})')

  def watch_bound(self) -> np.float32:
    """max_loss as the largest float32 <= it: a float32 loss exceeds one iff the other."""
    bound = np.float32(self.max_loss)
    if float(bound) > self.max_loss:
      bound = np.nextafter(bound, np.float32(-np.inf))
    return bound

  def check_state(self, step: int, state: Any) -> None:
    """Stops when any float of `state` is NaN or infinite."""
    bad = checkpoints.nonfinite_leaves(state)
    if bad:
      raise self.stop(step, f'the update made {", ".join(bad[:3])} non-finite')


def new_watch(metrics: dict[str, Any]) -> Watch:
  """A watch that has seen no bad step, for metrics shaped like `metrics` (arrays or
  jax.ShapeDtypeStructs); host arrays, sent with the first `watch` call."""
  return {'step': np.int32(0),
          'metrics': {k: np.zeros(v.shape, v.dtype) for k, v in metrics.items()}}


@functools.partial(jax.jit, static_argnames=('loss_key',))
def watch(watched: Watch, step: jax.Array, metrics: dict[str, jax.Array], bound: jax.Array,
          *, loss_key: str) -> Watch:
  """The watch after step `step`'s metrics: they are bad when one is not finite or
  metrics[loss_key] > bound (`Guard.watch_bound`); the first bad step is kept.

  One small jitted call a step, dispatched asynchronously like the step itself.
  Not donated: the loop keeps earlier watches to read back one step behind.
  """
  values = [jnp.asarray(v, jnp.float32) for v in metrics.values()]
  finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in values]))
  bad = ~finite | (jnp.asarray(metrics[loss_key], jnp.float32) > bound)
  first = (watched['step'] == 0) & bad
  return {'step': jnp.where(first, jnp.asarray(step, jnp.int32), watched['step']),
          'metrics': {k: jnp.where(first, v, watched['metrics'][k]) for k, v in metrics.items()}}
