"""Training and evaluation of the Landauer LM: one pure, jitted train step.

Shapes: B batch, T window, V vocabulary, D top-layer width, S eval streams.
The loss is cross-entropy (nats/char) plus the thermodynamic inertia penalty
    energy_weight * inertia_temperature * ln(phi) * mean_t,b,d (h_t - h_{t-1})**2
over the top layer's states inside each window.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from landauerjax import checkpoints
from landauerjax import constants
from landauerjax import input_pipeline
from landauerjax import models
from landauerjax.core import checkpoints as core_checkpoints
from landauerjax.core import distributed
from landauerjax.core import errors
from landauerjax.core import guards
from landauerjax.core import loop as core_loop
from landauerjax.core import metrics as core_metrics
from landauerjax.core import run as core_run
from landauerjax.core import sharding
from landauerjax.core import windows as windows_lib
from landauerjax.core import workdir as workdir_lib

TrainState = dict[str, Any]  # {'params', 'opt_state', 'step'}


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


def model_config_from(config: Any, vocab_size: int) -> models.ModelConfig:
  """`config.model` (a ConfigDict or dict) -> ModelConfig, with unknown keys named."""
  fields = dict(config.model)
  known = {f.name for f in dataclasses.fields(models.ModelConfig)}
  unknown = sorted(set(fields) - known)
  if unknown:
    raise errors.ConfigError(f'Unknown config.model keys {unknown}; known: {sorted(known)}.')
  try:
    return models.ModelConfig(**fields, vocab_size=vocab_size)
  except (TypeError, ValueError) as e:
    raise errors.ConfigError(f'Bad config.model: {e}') from e


# ---------------------------------------------------------------------------
# Loss.
# ---------------------------------------------------------------------------


def cross_entropy(logits_BxTxV: jax.Array, targets_BxT: jax.Array) -> jax.Array:
  """Per-token cross-entropy in nats: [B, T]."""
  return optax.softmax_cross_entropy_with_integer_labels(
      logits_BxTxV.astype(jnp.float32), targets_BxT)


def inertia_penalty(states_BxTxD: jax.Array) -> jax.Array:
  """Mean squared hidden-state velocity within the window: scalar."""
  velocity = jnp.diff(states_BxTxD, axis=1)
  return jnp.mean(jnp.abs(velocity)**2)


def inertia_coefficient(energy_weight: float, inertia_temperature: float) -> float:
  """w * tau * ln(phi): the inertia penalty's weight (0.0024 by default)."""
  return energy_weight * inertia_temperature * constants.LN_PHI


def loss_fn(params: Any, model: models.LandauerLM, windows_BxT1: jax.Array,
            coefficient: float, dropout_key: jax.Array | None = None
            ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Total loss of one batch of windows from a zero state, and its terms.

  A dropout_key switches on training mode (dropout, where configured).
  """
  inputs, targets = windows_BxT1[:, :-1], windows_BxT1[:, 1:]
  carry = models.initial_state(model.config, inputs.shape[0])
  if dropout_key is None:
    logits, top, _ = model.apply({'params': params}, inputs, carry)
  else:
    logits, top, _ = model.apply({'params': params}, inputs, carry, train=True,
                                 rngs={'dropout': dropout_key})
  ce = jnp.mean(cross_entropy(logits, targets))
  energy = inertia_penalty(top)
  total = ce + coefficient * energy
  return total, {'loss': total, 'ce': ce, 'energy': energy}


# ---------------------------------------------------------------------------
# Optimiser and state.
# ---------------------------------------------------------------------------


def make_schedule(train_config: Any) -> optax.Schedule:
  lr, steps = train_config.learning_rate, train_config.num_steps
  warmup = train_config.warmup_steps
  if train_config.schedule == 'constant':
    main = optax.constant_schedule(lr)
  elif train_config.schedule == 'cosine':
    main = optax.cosine_decay_schedule(lr, max(1, steps - warmup),
                                       alpha=train_config.final_lr_fraction)
  else:
    raise errors.ConfigError(f"Unknown config.train.schedule {train_config.schedule!r}; use 'constant' or 'cosine'.")
  if warmup:
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), main], [warmup])
  return main


def make_optimizer(train_config: Any) -> optax.GradientTransformation:
  """clip_by_global_norm -> Adam or AdamW with the configured schedule."""
  schedule = make_schedule(train_config)
  if train_config.optimizer == 'adam':
    base = optax.adam(schedule)
  elif train_config.optimizer == 'adamw':
    base = optax.adamw(schedule, weight_decay=train_config.weight_decay)
  else:
    raise errors.ConfigError(f"Unknown config.train.optimizer {train_config.optimizer!r}; use 'adam' or 'adamw'.")
  if train_config.grad_clip > 0:
    return optax.chain(optax.clip_by_global_norm(train_config.grad_clip), base)
  return base


def init_train_state(model_config: models.ModelConfig,
                     optimizer: optax.GradientTransformation, seed: int) -> TrainState:
  params = models.init_params(model_config, jax.random.PRNGKey(seed))
  return {'params': params, 'opt_state': optimizer.init(params),
          'step': jnp.zeros((), jnp.int32)}


def train_step(state: TrainState, tokens_N: jax.Array, *, model: models.LandauerLM,
               optimizer: optax.GradientTransformation, seed: int,
               batch_size: int, seq_len: int, coefficient: float,
               mesh: jax.sharding.Mesh | None = None
               ) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimiser step on the batch of step `state['step']` (pure; jit it).

  The batch is drawn inside from `tokens_N` with key fold_in(seed, step), so a
  resumed run sees exactly the batches an uninterrupted one would, on any
  number of devices. With a `mesh`, the batch is split over its data axis
  (the gradients' mean then all-reduces through XLA).
  """
  key = windows_lib.batch_key(seed, state['step'])
  windows = sharding.constrain_batch(
      windows_lib.sample_windows(tokens_N, key, batch_size, seq_len), mesh)
  dropout_key = jax.random.fold_in(key, 1) if model.config.dropout > 0 else None
  grads, metrics = jax.grad(loss_fn, has_aux=True)(
      state['params'], model, windows, coefficient, dropout_key)
  updates, opt_state = optimizer.update(grads, state['opt_state'], state['params'])
  params = optax.apply_updates(state['params'], updates)
  metrics['grad_norm'] = optax.tree.norm(grads)
  return {'params': params, 'opt_state': opt_state, 'step': state['step'] + 1}, metrics


def make_train_step(config: Any, model: models.LandauerLM,
                    optimizer: optax.GradientTransformation,
                    mesh: jax.sharding.Mesh | None = None) -> Callable[..., Any]:
  """The jitted train step for `config` (state is donated).

  With a `mesh`: state and corpus replicated, the batch split over `data`.
  """
  step = functools.partial(
      train_step, model=model, optimizer=optimizer, seed=config.seed,
      batch_size=config.train.batch_size, seq_len=config.train.seq_len,
      coefficient=inertia_coefficient(config.train.energy_weight,
                                      config.train.inertia_temperature), mesh=mesh)
  if mesh is None:
    return jax.jit(step, donate_argnums=0)
  everywhere = sharding.replicated(mesh)
  return jax.jit(step, donate_argnums=0, in_shardings=(everywhere, everywhere),
                 out_shardings=(everywhere, everywhere))


def updated_loss(state: TrainState, tokens_N: jax.Array, *, model: models.LandauerLM,
                 seed: int, batch_size: int, seq_len: int, coefficient: float) -> jax.Array:
  """The loss of the state's parameters on the batch of the step that produced them.

  A step's reported loss is that of the parameters BEFORE its update; this is
  the loss AFTER it, so an update that blew up is seen before its state is
  evaluated or saved. Pure; no dropout.
  """
  key = windows_lib.batch_key(seed, state['step'] - 1)
  windows = windows_lib.sample_windows(tokens_N, key, batch_size, seq_len)
  return loss_fn(state['params'], model, windows, coefficient)[0]


# ---------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=('model', 'window', 'carry_state'))
def _stream_ce_sum(params: Any, model: models.LandauerLM, inputs_SxL: jax.Array,
                   targets_SxL: jax.Array, mask_SxL: jax.Array, window: int,
                   carry_state: bool) -> jax.Array:
  """Summed masked cross-entropy over S streams, window by window (one scan)."""
  num_streams, length = inputs_SxL.shape
  chunks = lambda a: jnp.moveaxis(a.reshape(num_streams, length // window, window), 1, 0)
  zero = models.initial_state(model.config, num_streams)

  def body(carry, chunk):
    inputs, targets, mask = chunk
    logits, _, new_carry = model.apply({'params': params}, inputs, carry)
    ce = jnp.sum(cross_entropy(logits, targets) * mask)
    return (new_carry if carry_state else zero), ce
  _, ce_C = jax.lax.scan(body, zero, (chunks(inputs_SxL), chunks(targets_SxL),
                                      chunks(mask_SxL)))
  return jnp.sum(ce_C)


def evaluate(params: Any, model: models.LandauerLM, tokens_N: np.ndarray, *,
             num_streams: int = 32, window: int = 256, carry_state: bool = True
             ) -> dict[str, float]:
  """Cross-entropy over a whole split: {'ce' nats/char, 'bpc' bits/char, 'chars'}.

  With carry_state (the default) each of the S streams carries its hidden state
  from window to window; otherwise the state resets to zero every `window`.
  """
  streams = windows_lib.eval_streams(tokens_N, num_streams, window)
  total = _stream_ce_sum(params, model, streams.inputs, streams.targets,
                         streams.mask, window, carry_state)
  ce = float(total) / streams.num_targets
  return {'ce': ce, 'bpc': ce / math.log(2), 'chars': streams.num_targets}


def one_batch_loss(params: Any, model: models.LandauerLM, tokens_N: np.ndarray,
                   key: jax.Array, *, batch_size: int = 32, seq_len: int = 64,
                   coefficient: float = inertia_coefficient(0.1, 0.05)) -> dict[str, float]:
  """The original's protocol: total loss (CE + energy) of ONE random batch."""
  windows = windows_lib.sample_windows(jnp.asarray(tokens_N), key, batch_size, seq_len)
  _, metrics = jax.jit(loss_fn, static_argnums=1)(params, model, windows, coefficient)
  return {k: float(v) for k, v in metrics.items()}


def other_protocols(params: Any, model: models.LandauerLM, tokens_N: np.ndarray, *,
                    num_streams: int, window: int, seed: int) -> dict[str, float]:
  """The numbers the original's protocols give, beside `evaluate`'s: {'val_ce_reset'
  (`evaluate` with the state zeroed every `window` characters), 'one_batch_loss'
  (`one_batch_loss` of the batch of PRNG seed `seed`)}."""
  reset = evaluate(params, model, tokens_N, num_streams=num_streams, window=window,
                   carry_state=False)
  return {'val_ce_reset': reset['ce'], 'one_batch_loss': one_batch_loss(
      params, model, tokens_N, jax.random.PRNGKey(seed))['loss']}


# ---------------------------------------------------------------------------
# The training loop.
# ---------------------------------------------------------------------------

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


def _last_evaluation(workdir: str) -> dict[str, Any]:
  evals = [r for r in core_metrics.read_metrics(core_metrics.metrics_path(workdir))
           if 'val_ce' in r]
  return {k: v for k, v in evals[-1].items() if k.startswith('val_')} if evals else {}


def train_and_evaluate(config: Any, workdir: str, *, allow_config_change: bool = False,
                       resume_step: int | None = None,
                       mesh: jax.sharding.Mesh | None = None) -> dict[str, Any]:
  """Trains `config` in `workdir`, resuming from its newest checkpoint that verifies.

  Holds the workdir's lock for the whole run (a second writer is refused).
  Resuming checks the config and the data against the run recorded in the
  checkpoint and refuses any change but `EXTENDABLE_KEYS` unless
  `allow_config_change`. `resume_step` resumes from that checkpoint instead
  (newer ones are moved to WORKDIR/checkpoints_set_aside/, never deleted).
  Writes WORKDIR/config.json (after that check),
  WORKDIR/metrics.jsonl and checkpoints; a non-finite state or a diverging
  loss (`config.train.divergence_factor`) stops the run with TrainingStopped
  before anything bad is saved. Returns the last evaluation's metrics (of the
  recorded run, when it had already finished).

  Runs data-parallel over `mesh` (default: all devices, `sharding.make_mesh`);
  the batch size must be a multiple of its data axis. A checkpoint restores on
  any device count.
  """
  config = canonical_config(config)
  check_train_config(config)
  mesh = sharding.make_mesh() if mesh is None else mesh
  sharding.check_batch_size(config.train.batch_size, mesh)
  corpus = distributed.primary_first(lambda: input_pipeline.load_corpus(config.data),
                                     'load_corpus')  # Process 0 prepares the TFDS files.
  if len(corpus.train) < config.train.seq_len + 1:
    raise errors.DataError(
        f'The training split has {len(corpus.train)} characters, fewer than one window of '
        f'config.train.seq_len + 1 = {config.train.seq_len + 1}: use a longer text or a '
        'smaller seq_len.')
  model_config = model_config_from(config, corpus.vocab.size)
  model = models.LandauerLM(model_config)
  optimizer = make_optimizer(config.train)
  config_dict = config.to_dict() if hasattr(config, 'to_dict') else dict(config)
  run = workdir_lib.run_record(config_dict, input_pipeline.fingerprint(corpus))
  meta = checkpoints.make_meta(model_config, corpus.vocab, config_dict, run)

  def before_training(state: TrainState, start: int) -> None:
    workdir_lib.write_json(os.path.join(workdir, 'config.json'), meta)
    logging.info('Model %s: %d parameters; %s.', model_config.variant,
                 models.count_params(state['params']), sharding.describe(mesh))

  spec = core_run.RunSpec(
      family=checkpoints.FAMILY, record=run, extendable=extendable_keys(config),
      num_steps=config.train.num_steps, keep=config.checkpoint.keep,
      init_state=lambda: sharding.put_replicated(
          init_train_state(model_config, optimizer, config.seed), mesh),
      saved_params=lambda saved, step: jax.eval_shape(
          functools.partial(models.init_params, checkpoints.model_config_of(saved, step)),
          jax.random.PRNGKey(0)),
      params_of=lambda state: state['params'],
      restore=lambda store, step, state, saved: store.restore_state(step, state),
      finished=lambda start: _last_evaluation(workdir),
      before_training=before_training,
      train=lambda state, start, store, writer: _train_loop(
          config, model, optimizer, corpus, state, start, store, writer, meta, mesh),
      saved_record=canonical_run_record,
      hints={'train.num_steps': f'the {config.train.schedule} learning-rate schedule '
                                'depends on it'})
  return core_run.train_in_workdir(spec, workdir, allow_config_change=allow_config_change,
                                   resume_step=resume_step)


def _train_loop(config: Any, model: models.LandauerLM,
                optimizer: optax.GradientTransformation, corpus: input_pipeline.CharCorpus,
                state: TrainState, start: int, store: core_checkpoints.CheckpointStore,
                writer: core_metrics.MetricsWriter, meta: dict[str, Any],
                mesh: jax.sharding.Mesh) -> dict[str, Any]:
  """Steps start+1 .. num_steps through the shared loop (landauerjax.core.loop)."""
  tokens_N = sharding.put_replicated(jnp.asarray(corpus.train), mesh)
  step_fn = make_train_step(config, model, optimizer, mesh)
  probe = jax.jit(functools.partial(
      updated_loss, model=model, seed=config.seed, batch_size=config.train.batch_size,
      seq_len=config.train.seq_len,
      coefficient=inertia_coefficient(config.train.energy_weight,
                                      config.train.inertia_temperature)))

  def evaluate_state(state: TrainState) -> dict[str, float]:
    result = evaluate(state['params'], model, corpus.validation,
                      num_streams=config.eval.num_streams, window=config.eval.window)
    return {'val_ce': result['ce'], 'val_bpc': result['bpc'], 'val_chars': result['chars']}

  hooks = core_loop.Hooks(
      step=lambda state, step: step_fn(state, tokens_N),
      updated_loss=lambda state, step: float(probe(state, tokens_N)),
      evaluate=evaluate_state,
      train_record=lambda step, m: {'train_loss': m['loss'], 'train_ce': m['ce'],
                              'energy': m['energy'], 'grad_norm': m['grad_norm']},
      checkpoint=lambda state, step: (state, meta),
      loss_key='loss')
  guard = guards.Guard(
      store, corpus.vocab.size, config.train.get('divergence_factor', 0.0),
      advice='Try a lower --config.train.learning_rate in a new --workdir (or in this one '
             'with --allow_config_change).')
  cadence = core_loop.Cadence(config.train.num_steps, config.log_every, config.eval.every,
                              config.checkpoint.every)
  _, last_eval = core_loop.train_loop(
      state, hooks, start=start, cadence=cadence, guard=guard, store=store, writer=writer,
      units_per_step=config.train.batch_size * config.train.seq_len, unit='chars',
      profile_steps=profile_steps(config), profile_dir=os.path.join(store.workdir, 'profile'))
  return last_eval
