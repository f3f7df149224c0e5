"""The training loop both models run: steps, read-back, guards, evaluation, metrics, saves.

A model brings its pure pieces (`Hooks`): a jitted step, the loss of an updated
state, an evaluation, what a metrics line and a checkpoint hold. `train_loop`
does the rest, the same way for both models:

* The host reads metrics back only at log, evaluation and save steps, and
  at a log step one step behind: step s+1 is dispatched before the metrics of
  step s are read, so the device never waits for the log (nanodo's pattern).
  Steps in between are never waited for.
* Every step's metrics are checked (`guards.Guard`: finite, and the loss below
  the divergence bound) on the device (`guards.watch`, which keeps the first
  bad step); the watch is read back with the metrics, so a bad step stops the
  run at the next read-back, at most `log_every` steps late, naming its own
  step, and always before anything after it is evaluated or saved.
* Every `log_every`, `eval_every` and `checkpoint_every` steps, and at the last
  step, one line goes to metrics.jsonl: the step's training metrics, the
  throughput since the previous line (evaluation and saving excluded) and, at
  evaluation steps, the validation metrics.
* Before a state is evaluated or saved, it is checked: finite, and its own
  loss on the batch that produced it (`Hooks.updated_loss`) in bounds, so a
  blown-up last update is never saved.
* A save commits the metrics lines first, then the checkpoint
  (`CheckpointStore.save`: synchronous, verified).
* SIGTERM or SIGINT (`core.preemption`): the step in flight finishes, is
  logged and saved like a save step, and the loop raises `Preempted`; every
  process of a multi-process run stops at the same step. A second signal stops
  at once, without saving.
* `profile_steps` (a, b): a `jax.profiler` trace of steps a..b (those of them
  the run has) into `profile_dir`, each step's dispatch a `StepTraceAnnotation
  ('train', step_num=step)`; the last traced step's outputs are waited for
  before the trace stops, so it holds their device work. An exception stops
  the trace too. Tracing changes no value the run computes.

Imports no model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import time
from typing import Any, Callable

from absl import logging
import jax
import numpy as np

from landauerjax.core import checkpoints
from landauerjax.core import errors
from landauerjax.core import guards
from landauerjax.core import metrics as metrics_lib
from landauerjax.core import preemption


@dataclasses.dataclass(frozen=True)
class Cadence:
  """When a run logs, evaluates and saves (every n steps, and always at the last)."""

  num_steps: int
  log_every: int
  eval_every: int
  checkpoint_every: int

  def due(self, step: int) -> tuple[bool, bool, bool]:
    """(log, evaluate, save) at `step`."""
    last = step == self.num_steps
    return (step % self.log_every == 0 or last, step % self.eval_every == 0 or last,
            step % self.checkpoint_every == 0 or last)


@dataclasses.dataclass(frozen=True)
class Hooks:
  """What a model brings to `train_loop`.

  step: (state, step) -> (state, metrics): training step `step` (1-based),
    metrics as device arrays; may run asynchronously.
  updated_loss: (state, step) -> float: the loss of the state's parameters on
    the batch of the step that produced them (a step's own metrics are those
    of the parameters before its update).
  evaluate: state -> {'val_ce': nats per unit, ...} (floats).
  train_record: (step, host metrics) -> the metrics line's training fields
    (e.g. {'train_loss': ...}).
  loss_key: the metric the guard bounds (divergence_factor x ln V).
  checkpoint: (state, step) -> (the pytree to save, its meta dict).
  on_eval: (step, evaluation) -> None, called after each evaluation.
  """

  step: Callable[[Any, int], tuple[Any, dict[str, Any]]]
  updated_loss: Callable[[Any, int], float]
  evaluate: Callable[[Any], dict[str, float]]
  train_record: Callable[[int, dict[str, float]], dict[str, Any]]
  checkpoint: Callable[[Any, int], tuple[Any, dict[str, Any]]]
  loss_key: str = 'loss'
  on_eval: Callable[[int, dict[str, float]], None] | None = None


def check_profile_steps(value: Any, name: str = 'config.profile.steps') -> tuple[int, ...]:
  """`value` as a profile.steps setting: () (no trace) or (a, b), steps 1 <= a <= b.

  Raises:
    errors.ConfigError: anything else, naming `name`.
  """
  if isinstance(value, (tuple, list)) and not value:
    return ()
  if (not isinstance(value, (tuple, list)) or len(value) != 2
      or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
      or not 1 <= value[0] <= value[1]):
    raise errors.ConfigError(
        f'{name} must be () (no trace) or two steps (a, b) with 1 <= a <= b, got '
        f'{tuple(value) if isinstance(value, list) else value!r} (e.g. '
        '--config.profile.steps=(3,5)).')
  return (int(value[0]), int(value[1]))


class _StepTrace:
  """A jax.profiler trace of the steps a..b of `steps` that the run start+1..num_steps has."""

  def __init__(self, steps: tuple[int, ...], directory: str, start: int, num_steps: int):
    self.directory = directory
    self.first = self.last = None
    self.active = False
    if not steps:
      return
    first, last = max(steps[0], start + 1), min(steps[1], num_steps)
    if first > last:
      logging.info('profile.steps %s: this run has steps %d..%d, none of them: no trace.',
                   tuple(steps), start + 1, num_steps)
      return
    self.first, self.last = first, last

  def annotate(self, step: int) -> Any:
    """Starts the trace at its first step; the step's annotation while it runs."""
    if step == self.first:
      try:
        jax.profiler.start_trace(self.directory, create_perfetto_trace=True)
        self.active = True
      except RuntimeError as e:  # E.g. a trace this process started already runs.
        logging.warning('No profiler trace of steps %d..%d: %s', self.first, self.last, e)
    if not self.active:
      return contextlib.nullcontext()
    return jax.profiler.StepTraceAnnotation('train', step_num=step)

  def stop(self, step: int, outputs: Any) -> None:
    """Waits for `outputs` (of step `step`, the last one dispatched), then stops the trace."""
    if not self.active:
      return
    self.active = False
    try:
      jax.block_until_ready(outputs)
    finally:
      jax.profiler.stop_trace()
    logging.info('Profiler trace of steps %d..%d in %s (TensorBoard/xprof: plugins/profile/'
                 '<run>/*.xplane.pb; Perfetto: perfetto_trace.json.gz).', self.first, step,
                 self.directory)


def train_loop(state: Any, hooks: Hooks, *, start: int, cadence: Cadence,
               guard: guards.Guard, store: checkpoints.CheckpointStore,
               writer: metrics_lib.MetricsWriter, units_per_step: int,
               unit: str = 'tokens', profile_steps: tuple[int, ...] = (),
               profile_dir: str = '') -> tuple[Any, dict[str, float]]:
  """Runs steps start+1 .. cadence.num_steps; see the module docstring.

  Args:
    state: the state after step `start` (a pytree the hooks understand).
    units_per_step: characters or tokens per step, for the throughput field
      `<unit>_per_sec` of each metrics line.
    profile_steps: () or (a, b) (`check_profile_steps`): trace steps a..b
      into `profile_dir` (jax.profiler; TensorBoard/xprof or Perfetto). Steps
      outside start+1..num_steps are left out; none left: one log line.

  Returns:
    (the final state, the last evaluation; {} when no step evaluated).

  Raises:
    errors.TrainingStopped: a non-finite or diverged loss or state, or a
      non-finite validation CE (the last good checkpoint is kept).
    preemption.Preempted: SIGTERM or SIGINT, after saving the step in flight
      (not raised when that step was the last: the run is then complete).
  """
  rate_key = f'{unit}_per_sec'
  last_eval: dict[str, float] = {}
  timer_step, timer = start, time.perf_counter()

  bound = guard.watch_bound()
  watched: guards.Watch | None = None  # On device: the first bad step so far (guards.watch).

  def read_back(step: int, device_metrics: dict[str, Any], watch_after: guards.Watch
                ) -> dict[str, float]:
    """Step `step`'s metrics, after checking every step up to it (one read-back)."""
    host_metrics, host_watch = _to_host((device_metrics, watch_after))
    guard.check_watch(host_watch, hooks.loss_key)
    metrics = {k: float(v) for k, v in host_metrics.items()}
    guard.check_loss(step, hooks.loss_key, metrics[hooks.loss_key])
    guard.check_finite(step, 'metrics', metrics)
    return metrics

  def record(step: int, metrics: dict[str, float]) -> dict[str, Any]:
    """The line's training fields and the throughput since the previous line."""
    nonlocal timer_step, timer
    now = time.perf_counter()
    rate = (step - timer_step) * units_per_step / max(now - timer, 1e-9)
    timer_step, timer = step, now
    fields = hooks.train_record(step, metrics)
    eta = (cadence.num_steps - step) * units_per_step / max(rate, 1e-9)
    logging.info('step %d/%d: %s | %.0f %s/s, ETA %.0fs', step, cadence.num_steps,
                 ', '.join(f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}'
                           for k, v in fields.items()), rate, unit, eta)
    return {'step': step, **fields, rate_key: rate}

  trace = _StepTrace(tuple(profile_steps), profile_dir, start, cadence.num_steps)
  pending = None  # (step, device metrics, watch after it) of a log step not read back yet.
  step = start
  stop_signals = preemption.StopSignals()
  try:
    stop_signals.__enter__()
    for step in range(start + 1, cadence.num_steps + 1):
      with trace.annotate(step):
        state, device_metrics = hooks.step(state, step)
        if watched is None:
          watched = guards.new_watch(jax.eval_shape(lambda: device_metrics))
        watched = guards.watch(watched, np.int32(step), device_metrics, bound,
                               loss_key=hooks.loss_key)
      if step == trace.last:
        trace.stop(step, (state, device_metrics, watched))
      if pending is not None:  # Read back a step behind: the device runs on meanwhile.
        writer.write(record(pending[0], read_back(*pending)))
        pending = None
      is_log, is_eval, is_save = cadence.due(step)
      stop = stop_signals.agreed(check_all=is_log or is_eval or is_save)
      is_log, is_save = is_log or stop, is_save or stop
      if not (is_eval or is_save):
        if is_log:
          pending = (step, device_metrics, watched)
        continue
      line = record(step, read_back(step, device_metrics, watched))
      # Never evaluate or save a non-finite or diverged state.
      guard.check_state(step, state)
      guard.check_loss(step, f'{hooks.loss_key} of the updated parameters',
                       hooks.updated_loss(state, step))
      if is_eval:
        t0 = time.perf_counter()
        last_eval = hooks.evaluate(state)
        if not math.isfinite(last_eval['val_ce']):  # A high one is overfitting, not divergence.
          raise guard.stop(step, f'non-finite validation CE ({last_eval["val_ce"]})')
        logging.info('step %d: %s [%.1fs]', step,
                     ', '.join(f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}'
                               for k, v in last_eval.items()),
                     time.perf_counter() - t0)
        line.update(last_eval)
        if hooks.on_eval is not None:
          hooks.on_eval(step, last_eval)
      writer.write(line)
      if is_save:
        writer.commit()  # The step's lines reach the disk before its checkpoint.
        store.save(step, *hooks.checkpoint(state, step))
      if stop and step < cadence.num_steps:
        raise preemption.Preempted(step, stop_signals.received, store.step_dir(step))
      timer_step, timer = step, time.perf_counter()  # Evaluation and saving count against no rate.
  finally:
    stop_signals.__exit__(None, None, None)
    if trace.active:  # An exception (a guard's stop, Ctrl-C) ends the trace too,
      with contextlib.suppress(Exception):  # and is the one reported.
        trace.stop(step, state)
  return state, last_eval


def _to_host(tree: Any) -> Any:
  """The loop's one way of reading device values back (tests count its calls)."""
  return jax.device_get(tree)
