"""Training the field LM: a run in a workdir, from arrays (`train`) or a config file
(`train_and_evaluate`).

Nothing here takes a gradient. The step is `hebbian.train_step` (the forward
pass, then each component's Hebbian rule), the settings `config_schema`'s,
validation `evaluation.evaluate`'s. A run is `core.run.train_in_workdir` (lock,
resume checks) around `core.loop.train_loop`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable, Iterator

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import checkpoints
from fieldjax import config_schema
from fieldjax import evaluation
from fieldjax import hebbian
from fieldjax import input_pipeline
from fieldjax import model as model_lib
from fieldjax import perturbations
from landauerjax.core import checkpoints as core_checkpoints
from landauerjax.core import distributed
from landauerjax.core import errors
from landauerjax.core import guards
from landauerjax.core import loop as core_loop
from landauerjax.core import metrics as core_metrics
from landauerjax.core import run as core_run
from landauerjax.core import sharding
from landauerjax.core import workdir as workdir_lib


# ---------------------------------------------------------------------------
# The loop.
# ---------------------------------------------------------------------------


# A training stream: state (JSON-able, None = the beginning) -> iterator of
# (windows int32 [B, T + 1], the state just after that batch).
TrainStream = Callable[[Any], Iterator[tuple[np.ndarray, Any]]]

RUN_FILE = 'run.json'


def _recorded_run(workdir: str, step: int, run_info: dict[str, Any] | None
                  ) -> dict[str, Any]:
  """WORKDIR/run.json of a run finished at `step`; rebuilt from metrics.jsonl when a
  kill came between the last checkpoint and run.json (missing, garbled or stale)."""
  path = os.path.join(workdir, RUN_FILE)
  try:
    with open(path) as f:
      recorded = json.load(f)
    if isinstance(recorded, dict) and recorded.get('step') == step:
      return recorded
  except (OSError, ValueError):
    pass
  evals = [r for r in core_metrics.read_metrics(core_metrics.metrics_path(workdir))
           if 'val_ce' in r and r['step'] == step]
  final = ({k: evals[-1][k] for k in ('val_ce', 'val_perplexity', 'val_tokens')
            if k in evals[-1]} if evals else {})
  recorded = {'final': final, 'step': step, 'wall_seconds': None, **(run_info or {})}
  logging.warning('%s was missing or stale: rebuilt from metrics.jsonl for step %d.', path,
                  step)
  workdir_lib.write_json(path, recorded)
  return recorded


def _own_stream_state(saved: Any, workdir: str, step: int) -> Any:
  """This process's stream state from a checkpoint's {'processes': [state, ...]}."""
  if saved is None:
    return None
  count = jax.process_count()
  if not (isinstance(saved, dict) and len(saved.get('processes', ())) == count):
    raise errors.CheckpointError(
        f'Checkpoint step {step} of {workdir} holds the stream position of another input '
        f'pipeline or process count than this run\'s {count} (e.g. the packer before grain); '
        'resume it as it was run, or use another --workdir.')
  return saved['processes'][jax.process_index()]


def train(cfg: model_lib.ModelConfig, train_cfg: config_schema.TrainConfig, *,
          validation_tokens: np.ndarray, workdir: str,
          train_tokens: np.ndarray | None = None, train_stream: TrainStream | None = None,
          meta: dict[str, Any] | None = None,
          on_eval: Callable[[int, dict[str, float]], None] | None = None,
          data_fingerprint: str | None = None, allow_config_change: bool = False,
          run_info: dict[str, Any] | None = None, resume_step: int | None = None,
          mesh: jax.sharding.Mesh | None = None) -> dict[str, Any]:
  """Trains in `workdir`, resuming from its newest checkpoint that verifies.

  Training data is either `train_tokens` (a corpus held in memory; batch
  `step` is B random windows drawn with batch_key(seed, step)) or
  `train_stream` (e.g. `landauerjax.core.streams.token_batches` over a TFDS text
  stream, for corpora too large to hold: a callable state -> iterator of
  (this process's rows int32 [B / processes, T + 1], the state after them),
  with state None at the start. Every process's state is saved in every
  checkpoint's meta ('stream_state': {'processes': [...]}), so a resumed run
  continues with the same batches).

  The workdir is locked for the run (a second writer is refused). Resuming
  compares the model, the TrainConfig, `meta` and the data (fingerprint of
  the token arrays, or `data_fingerprint` for a stream) with the run recorded
  in the checkpoint, and refuses any change but `config_schema.EXTENDABLE_KEYS` unless
  `allow_config_change`. `resume_step` resumes from that checkpoint instead
  (newer ones are moved to WORKDIR/checkpoints_set_aside/, never deleted).
  A non-finite state or a train CE above
  `divergence_factor` x ln V stops the run (errors.TrainingStopped) before
  anything bad is saved.

  Writes WORKDIR/metrics.jsonl (train lines: step, train_loss, coherence,
  tokens_per_sec; evaluation lines also val_ce, val_perplexity), orbax
  checkpoints whose meta holds `cfg` and `meta` (e.g. the tokenizer), and at
  the end WORKDIR/run.json: {'final': the last evaluation, 'step', 'wall_seconds',
  **run_info}. Returns the last evaluation's metrics; for a run that had
  already finished, the recorded ones, leaving the workdir as it was.
  """
  schedule = train_cfg.perturbation_schedule
  mesh = sharding.make_mesh(train_cfg.model_parallelism) if mesh is None else mesh
  sharding.check_batch_size(train_cfg.batch_size, mesh, 'batch_size')
  if cfg.lattice_dim % mesh.shape[sharding.MODEL] or cfg.sites.num_sites % mesh.shape[sharding.MODEL]:
    raise errors.ConfigError(
        f'The model axis ({mesh.shape[sharding.MODEL]} devices) must divide the lattice '
        f'dimension ({cfg.lattice_dim}) and the number of sparse sites '
        f'({cfg.sites.num_sites}), which it splits.')
  if (train_tokens is None) == (train_stream is None):
    raise ValueError('Pass exactly one of train_tokens and train_stream.')
  if train_tokens is not None and len(train_tokens) < train_cfg.seq_len + 1:
    raise errors.DataError(
        f'The training split has {len(train_tokens)} tokens, fewer than one window of '
        f'seq_len + 1 = {train_cfg.seq_len + 1}: use a longer text or a smaller seq_len.')
  meta = dict(meta or {})
  train_record = train_cfg.run_record()
  config_record = {'model': cfg.to_json(), 'train': train_record,
                   **{k: v for k, v in meta.items() if k != 'tokenizer'}}
  if data_fingerprint is None:
    data_fingerprint = workdir_lib.data_fingerprint(
        *([] if train_tokens is None else [np.asarray(train_tokens)]),
        np.asarray(validation_tokens), extra=meta.get('tokenizer'))
  run = workdir_lib.run_record(config_record, data_fingerprint)
  full_meta = {'family': checkpoints.FAMILY, 'model': cfg.to_json(),
               'train': dataclasses.asdict(train_cfg), **meta, 'run': run}
  t0 = time.perf_counter()
  resumed_meta: dict[str, Any] = {}  # The meta of the checkpoint resumed from.

  def restore(store, step, params, saved):
    template = {'params': params, 'step': sharding.put_replicated(jnp.int32(0), mesh)}
    resumed_meta.update(saved)
    return store.restore_state(step, template)['params']

  def run_loop(params, start, store, writer):
    stream_state = (_own_stream_state(resumed_meta.get('stream_state'), workdir, start)
                    if start else None)
    last_eval = _train_loop(cfg, train_cfg, schedule, params, start, stream_state,
                            train_tokens, train_stream, validation_tokens, store, writer,
                            full_meta, on_eval, mesh)
    writer.close()  # run.json comes after the last metrics line.
    workdir_lib.write_json(os.path.join(workdir, RUN_FILE), {
        'final': last_eval, 'step': train_cfg.num_steps,
        'wall_seconds': time.perf_counter() - t0, **(run_info or {})})
    return last_eval

  spec = core_run.RunSpec(
      family=checkpoints.FAMILY, record=run, extendable=config_schema.EXTENDABLE_KEYS,
      num_steps=train_cfg.num_steps, keep=train_cfg.checkpoint_keep,
      init_state=lambda: jax.device_put(
          model_lib.init_params(cfg, jax.random.PRNGKey(train_cfg.seed)),
          model_lib.param_shardings(mesh, cfg)),
      saved_params=lambda saved, step: checkpoints.abstract_state(
          checkpoints.model_config_of(saved, step))['params'],
      params_of=lambda params: params, restore=restore,
      finished=lambda start: _recorded_run(workdir, start, run_info)['final'],
      before_training=lambda params, start: logging.info(
          'Field LM: %d parameters, vocabulary %d; %s.', model_lib.param_count(cfg),
          cfg.vocab_size, sharding.describe(mesh)),
      train=run_loop, saved_record=config_schema.with_later_defaults)
  return core_run.train_in_workdir(spec, workdir, allow_config_change=allow_config_change,
                                   resume_step=resume_step)


def _train_loop(cfg: model_lib.ModelConfig, train_cfg: config_schema.TrainConfig,
                schedule: perturbations.Schedule, params: dict[str, jax.Array],
                start: int, stream_state: Any, train_tokens: np.ndarray | None,
                train_stream: TrainStream | None, validation_tokens: np.ndarray,
                store: core_checkpoints.CheckpointStore,
                writer: core_metrics.MetricsWriter, full_meta: dict[str, Any],
                on_eval: Callable[[int, dict[str, float]], None] | None,
                mesh: jax.sharding.Mesh) -> dict[str, Any]:
  """Steps start+1 .. num_steps through the shared loop (landauerjax.core.loop)."""
  if train_tokens is not None:
    tokens_N = sharding.put_replicated(jnp.asarray(train_tokens, jnp.int32), mesh)
  else:
    stream = iter(train_stream(stream_state))
  # The batch of the step last dispatched and the stream's state after it.
  current: dict[str, Any] = {'windows': None, 'stream_state': stream_state}

  def step_fn(params, step):
    if train_tokens is not None:
      return hebbian.train_step(params, tokens_N, step, cfg, train_cfg, schedule, mesh)
    try:
      windows, current['stream_state'] = next(stream)
    except StopIteration:
      raise errors.DataError(f'The training stream ended before step {step}.') from None
    # Each process's stream yields its own rows of the global batch.
    current['windows'] = sharding.global_batch(np.asarray(windows, np.int32), mesh)
    return hebbian.stream_step(params, current['windows'], step, cfg, train_cfg, schedule,
                               mesh)

  def stream_position() -> Any:
    """Every process's stream state, saved together (None for an in-memory corpus)."""
    if train_tokens is not None:
      return None
    return {'processes': distributed.allgather_json(current['stream_state'])}

  def updated_ce(params, step) -> float:
    """CE of the updated parameters on the batch that produced them."""
    # On a copy: the step donates its params, and these go on to be evaluated and saved
    # (a copy costs a memcpy at eval and save steps; an undonated step, a second compile).
    if train_tokens is not None:
      _, probe = hebbian.train_step(hebbian.copy_params(params), tokens_N, step, cfg,
                                    train_cfg, schedule, mesh)
    else:
      _, probe = hebbian.stream_step(hebbian.copy_params(params), current['windows'], step,
                                     cfg, train_cfg, schedule, mesh)
    return float(probe['ce'])

  def evaluate_params(params) -> dict[str, float]:
    result = evaluation.evaluate(
        params, validation_tokens, cfg, seq_len=train_cfg.eval_window,
        stride=train_cfg.validation_stride, batch_size=train_cfg.eval_batch_size,
        max_tokens=train_cfg.eval_max_tokens)
    return {'val_ce': result['ce'], 'val_perplexity': result['perplexity'],
            'val_tokens': result['tokens']}

  hooks = core_loop.Hooks(
      step=step_fn, updated_loss=updated_ce, evaluate=evaluate_params,
      train_record=lambda step, m: {
          'train_loss': m['ce'], 'coherence': m['coherence'],
          'crystal_norm': m['crystal_norm'],
          'perturbation': perturbations.kind_at(schedule, step - 1)},
      checkpoint=lambda params, step: ({'params': params,
                                        'step': sharding.put_replicated(jnp.int32(step), mesh)},
                                       {**full_meta, 'stream_state': stream_position()}),
      loss_key='ce', on_eval=on_eval)
  cadence = core_loop.Cadence(train_cfg.num_steps, train_cfg.log_every, train_cfg.eval_every,
                              train_cfg.checkpoint_every)
  guard = guards.Guard(store, cfg.vocab_size, train_cfg.divergence_factor)
  _, last_eval = core_loop.train_loop(
      params, hooks, start=start, cadence=cadence, guard=guard, store=store, writer=writer,
      units_per_step=train_cfg.batch_size * train_cfg.seq_len, unit='tokens',
      profile_steps=train_cfg.profile_steps, profile_dir=os.path.join(store.workdir, 'profile'))
  return last_eval


def train_and_evaluate(config: Any, workdir: str, *, allow_config_change: bool = False,
                       resume_step: int | None = None,
                       mesh: jax.sharding.Mesh | None = None) -> dict[str, Any]:
  """Trains the field LM of a config file (experiments/configs/field_*.py) in `workdir`.

  Reads `config.data` (tokenizer trained on the training split and cached in
  WORKDIR/tokenizer, corpus held in memory or streamed), builds the model of
  `config.model` and runs `train` (lock, resume checks, guards: see there).
  Returns WORKDIR/run.json: {'final': the last evaluation, 'step',
  'wall_seconds', 'params', 'tokens_train', 'tokenizer', 'vocab_size'}.
  """
  train_cfg = config_schema.train_config_from(config)  # Checked before any data is read.
  config_schema.model_config_from(config.model, 2)  # Checks the model keys likewise.
  data = distributed.primary_first(  # Process 0 prepares the TFDS files and tokenizer.
      lambda: input_pipeline.load(config.data, batch_size=train_cfg.batch_size,
                                  seq_len=train_cfg.seq_len,
                                  eval_max_tokens=train_cfg.eval_max_tokens,
                                  cache_dir=os.path.join(workdir, 'tokenizer')), 'load data')
  cfg = config_schema.model_config_from(config.model, data.tokenizer.vocab_size)
  info = {'params': model_lib.param_count(cfg),
          'tokens_train': None if data.train_tokens is None else len(data.train_tokens),
          'tokenizer': data.tokenizer.kind, 'vocab_size': data.tokenizer.vocab_size}
  train(cfg, train_cfg, workdir=workdir,
        meta={'tokenizer': data.tokenizer.to_json(), 'dataset': config.data.dataset},
        run_info=info, allow_config_change=allow_config_change, resume_step=resume_step,
        mesh=mesh, **data.train_kwargs())
  distributed.barrier('run.json written')
  with open(os.path.join(workdir, RUN_FILE)) as f:
    return json.load(f)
