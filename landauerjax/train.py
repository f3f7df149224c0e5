"""Training the Landauer LM: the optimiser, one pure jitted train step, the run.

Shapes: B batch, T window. The loss is `losses.loss_fn`; the config's keys and
checks are `config_schema`'s; validation is `evaluation.evaluate`. A run is
`core.run.train_in_workdir` (lock, resume checks) around `core.loop.train_loop`.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import optax

from landauerjax import checkpoints
from landauerjax import config_schema
from landauerjax import evaluation
from landauerjax import input_pipeline
from landauerjax import losses
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
  grads, metrics = jax.grad(losses.loss_fn, has_aux=True)(
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
      coefficient=losses.inertia_coefficient(config.train.energy_weight,
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
  return losses.loss_fn(state['params'], model, windows, coefficient)[0]


# ---------------------------------------------------------------------------
# The training loop.
# ---------------------------------------------------------------------------

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
  checkpoint and refuses any change but `config_schema.EXTENDABLE_KEYS` unless
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
  config = config_schema.canonical_config(config)
  config_schema.check_train_config(config)
  mesh = sharding.make_mesh() if mesh is None else mesh
  sharding.check_batch_size(config.train.batch_size, mesh)
  corpus = distributed.primary_first(lambda: input_pipeline.load_corpus(config.data),
                                     'load_corpus')  # Process 0 prepares the TFDS files.
  if len(corpus.train) < config.train.seq_len + 1:
    raise errors.DataError(
        f'The training split has {len(corpus.train)} characters, fewer than one window of '
        f'config.train.seq_len + 1 = {config.train.seq_len + 1}: use a longer text or a '
        'smaller seq_len.')
  model_config = config_schema.model_config_from(config.model, corpus.vocab.size)
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
      family=checkpoints.FAMILY, record=run,
      extendable=config_schema.extendable_keys(config),
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
      saved_record=config_schema.canonical_run_record,
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
      coefficient=losses.inertia_coefficient(config.train.energy_weight,
                                      config.train.inertia_temperature)))

  def evaluate_state(state: TrainState) -> dict[str, float]:
    result = evaluation.evaluate(state['params'], model, corpus.validation,
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
      profile_steps=config_schema.profile_steps(config),
      profile_dir=os.path.join(store.workdir, 'profile'))
  return last_eval
