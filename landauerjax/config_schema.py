"""The Landauer LM's config files (experiments/configs/landauer_*.py): spellings, checks,
the model config they describe, and which keys a resumed run may change.

A config is an ml_collections.ConfigDict with the sections `model`, `train`,
`eval`, `checkpoint`, `data`, `profile` and the keys `seed`, `log_every`
(landauer_original.py lists every key with its default).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import ml_collections

from landauerjax import models
from landauerjax.core import errors
from landauerjax.core import loop as core_loop


# Config keys renamed since, old spelling -> new. The old spellings still work: in
# a ConfigDict (canonical_config), on the command line (experiments.common) and in
# the run records of older checkpoints (canonical_run_record).
RENAMED_KEYS = {'train.temperature': 'train.inertia_temperature'}

# Config keys added since, {flat key: its value in runs recorded before it}: a run
# record without them (canonical_run_record) reads as one with these values.
LATER_KEYS = {'profile.steps': []}


def canonical_config(config: Any) -> ml_collections.ConfigDict:
  """A copy of `config` in today's spelling: RENAMED_KEYS, and variant 'seed' -> 'original'."""
  config = ml_collections.ConfigDict(
      config.to_dict() if hasattr(config, 'to_dict') else dict(config))
  for old, new in RENAMED_KEYS.items():
    section, old_key = old.split('.')
    new_key = new.split('.')[1]
    if section in config and old_key in config[section]:
      if new_key in config[section]:
        raise errors.ConfigError(f'config.{old} is the old name of config.{new}: set only '
                                 f'config.{new}.')
      config[section][new_key] = config[section][old_key]
      del config[section][old_key]
  if 'model' in config and 'variant' in config.model:
    config.model.variant = models.VARIANT_ALIASES.get(config.model.variant,
                                                      config.model.variant)
  return config


def canonical_run_record(run: dict[str, Any] | None) -> dict[str, Any] | None:
  """A run record (workdir.run_record) saved under old spellings (or before LATER_KEYS),
  in today's."""
  if not run or 'config' not in run:
    return run
  flat = {**LATER_KEYS, **{RENAMED_KEYS.get(k, k): v for k, v in run['config'].items()}}
  if 'model.variant' in flat:
    flat['model.variant'] = models.VARIANT_ALIASES.get(flat['model.variant'],
                                                       flat['model.variant'])
  return {**run, 'config': flat}


def model_config_from(model_config: Any, vocab_size: int) -> models.ModelConfig:
  """`config.model` (a ConfigDict or dict) -> ModelConfig, with unknown keys named (the
  field LM's `fieldjax.config_schema.model_config_from` takes the same arguments)."""
  fields = dict(model_config)
  known = {f.name for f in dataclasses.fields(models.ModelConfig)}
  unknown = sorted(set(fields) - known)
  if unknown:
    raise errors.ConfigError(f'Unknown config.model keys {unknown}; known: {sorted(known)}.')
  try:
    return models.ModelConfig(**fields, vocab_size=vocab_size)
  except (TypeError, ValueError) as e:
    raise errors.ConfigError(f'Bad config.model: {e}') from e


# Config keys a resumed run may change: they extend the run or change how often
# it reports (or what it traces), not what it computes. Data paths may move; the
# data's content is checked by its fingerprint. Any other change is refused
# (allow_config_change).
EXTENDABLE_KEYS = ('train.num_steps', 'log_every', 'eval.every', 'checkpoint.every',
                   'checkpoint.keep', 'train.divergence_factor', 'data.local_path',
                   'data.data_dir', 'profile.steps')


def extendable_keys(config: Any) -> tuple[str, ...]:
  """EXTENDABLE_KEYS, less train.num_steps when the learning rate depends on it
  (a cosine schedule: a longer run has another rate at every step after warmup)."""
  if config.train.schedule == 'constant':
    return EXTENDABLE_KEYS
  return tuple(k for k in EXTENDABLE_KEYS if k != 'train.num_steps')


def check_train_config(config: Any) -> None:
  """Raises ConfigError for counts and cadences that cannot run."""
  for name, value in (('train.num_steps', config.train.num_steps),
                      ('train.batch_size', config.train.batch_size),
                      ('train.seq_len', config.train.seq_len),
                      ('log_every', config.log_every), ('eval.every', config.eval.every),
                      ('eval.window', config.eval.window),
                      ('eval.num_streams', config.eval.num_streams),
                      ('checkpoint.every', config.checkpoint.every),
                      ('checkpoint.keep', config.checkpoint.keep)):
    if not isinstance(value, int) or value < 1:
      raise errors.ConfigError(f'config.{name} must be an integer >= 1, got {value!r} '
                               f'(e.g. --config.{name}=100).')
  for name, value in (('train.warmup_steps', config.train.warmup_steps),
                      ('train.learning_rate', config.train.learning_rate),
                      ('train.grad_clip', config.train.grad_clip),
                      ('train.weight_decay', config.train.weight_decay)):
    if not math.isfinite(value) or value < 0:
      raise errors.ConfigError(f'config.{name} must be a finite number >= 0, got {value!r}.')
  if config.train.get('divergence_factor', 0.0) < 0:
    raise errors.ConfigError('config.train.divergence_factor must be >= 0 (0 turns the '
                             f'guard off), got {config.train.divergence_factor}.')
  profile_steps(config)


def profile_steps(config: Any) -> tuple[int, ...]:
  """config.profile.steps, checked (core.loop.check_profile_steps); () when absent."""
  return core_loop.check_profile_steps((config.get('profile') or {}).get('steps', ()))
