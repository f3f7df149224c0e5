"""The field LM's settings: the training settings (`TrainConfig`), the config files'
(experiments/configs/field_*.py) mapping onto them and onto `model.ModelConfig`, and
which settings a resumed run may change.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fieldjax import collapse as collapse_lib
from fieldjax import components
from fieldjax import model as model_lib
from fieldjax import perturbations
from landauerjax.core import errors
from landauerjax.core import loop as core_loop
from landauerjax.core import workdir as workdir_lib


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  num_steps: int = 2000
  batch_size: int = 32
  seq_len: int = 128
  seed: int = 0
  # {first step: kind}: a dict (config files), JSON text (the --perturbation_schedule
  # flag) or (step, kind) pairs; stored parsed (`perturbations.parse_schedule`).
  perturbation_schedule: perturbations.Schedule = ((0, 'none'),)
  eval_every: int = 500
  # Validation windows advance by this many tokens, so each target is scored once with
  # >= window - stride tokens of context; 0: half the validation window.
  eval_stride: int = 0
  # Validation window, tokens; 0: seq_len. Longer than seq_len gives recall (and any
  # other within-window memory) more context to read than training windows had.
  eval_seq_len: int = 0
  eval_max_tokens: int = 0   # 0: the whole validation split.
  eval_batch_size: int = 64
  checkpoint_every: int = 500
  checkpoint_keep: int = 2
  log_every: int = 100
  # Stop (keeping the last good checkpoint) when the train CE exceeds this
  # multiple of ln V, the CE of a uniform guess; 0 turns the guard off.
  divergence_factor: float = 10.0
  # Devices of the mesh's `model` axis, which split the lattice and crystal
  # (core.sharding); the rest of the devices split the batch.
  model_parallelism: int = 1
  # (a, b): a jax.profiler trace of steps a..b into WORKDIR/profile/; () = none
  # (config.profile.steps; core.loop.check_profile_steps).
  profile_steps: tuple[int, ...] = ()

  def __post_init__(self):
    for name in ('num_steps', 'batch_size', 'seq_len', 'eval_every', 'eval_batch_size', 'checkpoint_every', 'checkpoint_keep', 'log_every',
                 'model_parallelism'):
      if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
        raise errors.ConfigError(f'{name} must be an integer >= 1, got {getattr(self, name)!r}.')
    if not isinstance(self.eval_max_tokens, int) or self.eval_max_tokens < 0:
      raise errors.ConfigError(f'eval_max_tokens must be an integer >= 0 (0: the whole '
                               f'split), got {self.eval_max_tokens!r}.')
    if not isinstance(self.eval_seq_len, int) or self.eval_seq_len < 0:
      raise errors.ConfigError(f'eval_seq_len must be an integer >= 0 (0: seq_len), got '
                               f'{self.eval_seq_len!r}.')
    if not isinstance(self.eval_stride, int) or self.eval_stride < 0:
      raise errors.ConfigError(f'eval_stride must be an integer >= 0 (0: half the validation '
                               f'window), got {self.eval_stride!r}.')
    if self.eval_stride > self.eval_window:
      raise errors.ConfigError(
          f'eval_stride ({self.eval_stride}) must be <= the validation window '
          f'({self.eval_window}: eval_seq_len, or seq_len when it is 0).')
    if self.divergence_factor < 0:
      raise errors.ConfigError(f'divergence_factor must be >= 0 (0 turns the guard off), '
                               f'got {self.divergence_factor}.')
    try:
      schedule = perturbations.parse_schedule(self.perturbation_schedule)
    except (TypeError, ValueError) as e:
      raise errors.ConfigError(f'Bad perturbation_schedule: {e}') from e
    object.__setattr__(self, 'perturbation_schedule', schedule)
    object.__setattr__(self, 'profile_steps', core_loop.check_profile_steps(
        self.profile_steps, 'profile_steps (config.profile.steps)'))

  @property
  def eval_window(self) -> int:
    """The validation window length, tokens."""
    return self.eval_seq_len or self.seq_len

  @property
  def validation_stride(self) -> int:
    """How far validation windows advance, tokens: eval_stride, or half the window."""
    return self.eval_stride or max(1, self.eval_window // 2)

  def run_record(self) -> dict[str, Any]:
    """These settings as a run record compares them (JSON): the schedule as parsed (so
    every spelling of one schedule is one setting) and the stride as used (so 0 and the
    half window it stands for are one setting too)."""
    return {**dataclasses.asdict(self), 'eval_stride': self.validation_stride,
            'perturbation_schedule': [list(entry) for entry in self.perturbation_schedule]}


# TrainConfig fields a resumed run may change: they extend the run or change how
# often it reports (or what it traces), not what it computes. Anything else is
# refused unless allow_config_change.
EXTENDABLE_KEYS = tuple(f'train.{k}' for k in (
    'num_steps', 'eval_every', 'checkpoint_every', 'checkpoint_keep', 'log_every',
    'divergence_factor', 'model_parallelism', 'profile_steps'))


def with_later_defaults(saved_run: dict[str, Any] | None) -> dict[str, Any] | None:
  """A run record from before a later config key (the sparse crystal, the traces, the
  collapse rule, the lattice rule, recall, the validation window, the profiler trace),
  with that key's default filled in, so that such runs still resume: each of those parts
  was off, or, for the collapse (which never acts in training), the default."""
  if saved_run is None:
    return saved_run
  nested = model_lib.nested_configs()
  later = workdir_lib.flatten({'train': {'eval_seq_len': 0, 'profile_steps': ()}, 'model': {
      # Every component's settings (the sparse crystal, recall, ...): default off.
      **{c.config: dataclasses.asdict(nested[c.config]()) for c in components.COMPONENTS
         if c.config is not None},
      'field': {'trace_scales': 0},
      'collapse': {'rule': collapse_lib.CollapseConfig().rule},
      **{name: getattr(model_lib.ModelConfig, name)
         for name in ('lattice_rule', 'lattice_rate', 'lattice_winners')}}})
  return {**saved_run, 'config': {**later, **saved_run.get('config', {})}}


def _as_dict(config: Any) -> dict[str, Any]:
  return config.to_dict() if hasattr(config, 'to_dict') else dict(config)


def model_config_from(model_config: Any, vocab_size: int) -> model_lib.ModelConfig:
  """`config.model` (a ConfigDict or dict) -> ModelConfig; unknown keys are named with
  the known ones."""
  fields = _as_dict(model_config)
  known = {f.name for f in dataclasses.fields(model_lib.ModelConfig)} - {'vocab_size'}
  unknown = sorted(set(fields) - known)
  if unknown:
    raise errors.ConfigError(f'Unknown config.model keys {unknown}; known: {sorted(known)}.')
  for name, cls in model_lib.nested_configs().items():
    if name in fields:
      sub = _as_dict(fields[name])
      sub_known = {f.name for f in dataclasses.fields(cls)}
      sub_unknown = sorted(set(sub) - sub_known)
      if sub_unknown:
        raise errors.ConfigError(f'Unknown config.model.{name} keys {sub_unknown}; known: '
                                 f'{sorted(sub_known)}.')
      try:
        fields[name] = cls(**sub)
      except (TypeError, ValueError) as e:
        raise errors.ConfigError(f'Bad config.model.{name}: {e}') from e
  try:
    return model_lib.ModelConfig(vocab_size=vocab_size, **fields)
  except (TypeError, ValueError) as e:
    raise errors.ConfigError(f'Bad config.model: {e}') from e


def train_config_from(config: Any) -> TrainConfig:
  """The TrainConfig of a config file's seed, train, eval, checkpoint, profile and log_every
  keys."""
  schedule = config.train.perturbation_schedule
  if hasattr(schedule, 'to_dict'):  # A ConfigDict {step: kind}, as config files write it.
    schedule = schedule.to_dict()
  try:
    return TrainConfig(
        num_steps=config.train.num_steps, batch_size=config.train.batch_size,
        seq_len=config.train.seq_len, seed=config.seed, perturbation_schedule=schedule,
        eval_every=config.eval.every, eval_stride=config.eval.stride,
        eval_seq_len=config.eval.get('seq_len', 0),
        eval_max_tokens=config.eval.max_tokens, eval_batch_size=config.eval.batch_size,
        checkpoint_every=config.checkpoint.every, checkpoint_keep=config.checkpoint.keep,
        log_every=config.log_every, divergence_factor=config.train.divergence_factor,
        model_parallelism=config.train.get('model_parallelism', 1),
        profile_steps=(config.get('profile') or {}).get('steps', ()))
  except errors.ConfigError:
    raise
  except (TypeError, ValueError) as e:  # E.g. a malformed schedule.
    raise errors.ConfigError(f'Bad config: {e}') from e
