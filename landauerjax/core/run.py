"""One training run in a workdir: lock, store, resume checks, finished-run exit, writer.

Both trainers run the same skeleton (`train_in_workdir`); a model brings what
differs as a `RunSpec` of small functions:

    lock WORKDIR/.lock (a second writer is refused)
    -> remove unfinished saves -> a fresh state (`init_state`)
    -> the newest checkpoint that verifies, checked before it is restored: its
       model family (`check_family`), its run record against this run's (any
       change but the extendable keys refused, `workdir.check_resume`), its
       parameter shapes against this run's
    -> a run already at `num_steps`: `finished(start)`, no file changed
    -> `before_training(state, start)`, then `train(state, start, store,
       writer)` with metrics.jsonl opened at `start`.

The step number has one source: the checkpoint a run resumes from (its
directory's name, `CheckpointStore.resume`); the loop counts on from it.
Imports no model.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Collection, Generic, Mapping, TypeVar

from absl import logging

from landauerjax.core import checkpoints
from landauerjax.core import errors
from landauerjax.core import metrics as metrics_lib
from landauerjax.core import workdir as workdir_lib

State = TypeVar('State')

# How to use each family's checkpoints, for a message naming the other family's.
FAMILY_COMMANDS = {
    'landauer': ('Landauer LM', 'python -m experiments.generate_landauer --workdir={dir}` '
                 '(or eval_landauer)'),
    'field': ('field LM', 'python -m experiments.field generate PROMPT --checkpoint={dir}`'),
}


def family_of(meta: Mapping[str, Any]) -> str:
  """'landauer' or 'field'; checkpoints from before the 'family' key are told by their
  keys (only the field LM's have a tokenizer)."""
  if 'family' in meta:
    return str(meta['family'])
  return 'field' if 'tokenizer' in meta else 'landauer'


def check_family(meta: Mapping[str, Any], family: str, directory: str) -> None:
  """Raises CheckpointError when `meta` is not a checkpoint of `family`, naming the
  command that uses the one it is."""
  found = family_of(meta)
  if found == family:
    return
  wanted = FAMILY_COMMANDS[family][0]
  if found in FAMILY_COMMANDS:
    name, command = FAMILY_COMMANDS[found]
    raise errors.CheckpointError(
        f'{directory} holds a {name} checkpoint, not a {wanted} one: use '
        f'`{command.format(dir=directory)}.')
  raise errors.CheckpointError(f'{directory} holds a {found!r} checkpoint, not a {wanted} one.')


@dataclasses.dataclass(frozen=True)
class RunSpec(Generic[State]):
  """What a model brings to `train_in_workdir`.

  family: the checkpoints' 'family' ('landauer', 'field').
  record: this run's run record (`workdir.run_record`: config and data
    fingerprint), compared with the one a checkpoint holds.
  extendable: flat config keys a resumed run may change (`workdir.check_resume`).
  num_steps: the step the run ends at.
  keep: checkpoints kept (`CheckpointStore`).
  init_state: () -> a fresh state (placed on the devices).
  saved_params: (meta, step) -> the parameters' shapes a checkpoint's meta
    describes (ShapeDtypeStructs; nothing allocated); raises
    `checkpoints.UnusableCheckpoint` for a meta this version cannot read.
  params_of: state -> its parameters, to compare shapes with `saved_params`.
  restore: (store, step, fresh state, meta) -> the state of checkpoint `step`.
  finished: start -> the results of a run already at num_steps (a log line is
    written here).
  train: (state, start, store, writer) -> the results; runs steps start+1 ..
    num_steps (`core.loop.train_loop`).
  before_training: (state, start) -> None, after the checks passed and before
    the first step (e.g. writing config.json, logging the model's size).
  saved_record: a checkpoint's run record -> the record to compare (e.g. with
    the defaults of keys added since it was written filled in).
  hints: {flat key: why it may not change}, said when it did.
  """

  family: str
  record: Mapping[str, Any]
  extendable: Collection[str]
  num_steps: int
  keep: int | None
  init_state: Callable[[], State]
  saved_params: Callable[[dict[str, Any], int], Any]
  params_of: Callable[[State], Any]
  restore: Callable[[checkpoints.CheckpointStore, int, State, dict[str, Any]], State]
  finished: Callable[[int], Any]
  train: Callable[[State, int, checkpoints.CheckpointStore, metrics_lib.MetricsWriter], Any]
  before_training: Callable[[State, int], None] = lambda state, start: None
  saved_record: Callable[[Any], Any] = lambda record: record
  hints: Mapping[str, str] = dataclasses.field(default_factory=dict)


def train_in_workdir(spec: RunSpec[Any], workdir: str, *, allow_config_change: bool = False,
                     resume_step: int | None = None) -> Any:
  """Runs `spec` in `workdir` (see the module docstring); returns its results.

  `resume_step` resumes from that checkpoint instead of the newest (newer
  ones are moved to WORKDIR/checkpoints_set_aside/, never deleted);
  `allow_config_change` accepts a changed setting that keeps the shapes.

  Raises:
    errors.WorkdirError: the workdir is in use, or holds a run of other settings.
    errors.CheckpointError: no checkpoint verifies, or one of another model
      or shape.
  """
  with workdir_lib.WorkdirLock(workdir):
    store = checkpoints.CheckpointStore(workdir, keep=spec.keep)
    store.remove_unfinished_saves()
    state = spec.init_state()

    def load(step: int) -> Any:
      saved = store.read_meta(step)
      check_family(saved, spec.family, workdir)
      workdir_lib.check_resume(
          spec.saved_record(saved.get('run')), spec.record, extendable=spec.extendable,
          allow_changes=allow_config_change, workdir=workdir, step=step, hints=spec.hints,
          shape_mismatch=checkpoints.shape_mismatch(spec.saved_params(saved, step),
                                                    spec.params_of(state)))
      return spec.restore(store, step, state, saved)

    start, restored = store.resume(load, step=resume_step)
    if restored is not None:
      state = restored
      logging.info('Resumed from step %d of %s.', start, workdir)
    if start >= spec.num_steps:
      logging.info('%s already holds this run trained to step %d (num_steps %d): nothing '
                   'to do; raise num_steps to train further.', workdir, start,
                   spec.num_steps)
      return spec.finished(start)
    spec.before_training(state, start)
    with metrics_lib.MetricsWriter(workdir, start) as writer:
      return spec.train(state, start, store, writer)
