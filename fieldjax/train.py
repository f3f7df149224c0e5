"""Hebbian training of the field LM: a pure jitted step, evaluation, the loop.

Nothing here takes a gradient. `hebbian_step` runs the model's forward pass
(`fieldjax.model.forward`), then counts the targets and applies each
component's Hebbian rule (`fieldjax.components`).

Determinism: batch `step` is drawn with `landauerjax.core.windows.batch_key
(seed, step)` and perturbed with `perturbation_key(seed, step)`, so a resumed
run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from typing import Any, Callable, Iterator

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import checkpoints
from fieldjax import collapse as collapse_lib
from fieldjax import components
from fieldjax import crystal
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
from landauerjax.core import windows as windows_lib
from landauerjax.core import workdir as workdir_lib


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  num_steps: int = 2000
  batch_size: int = 32
  seq_len: int = 128
  seed: int = 0
  perturbation_schedule: str = '{"0": "none"}'
  eval_every: int = 500
  eval_stride: int = 64      # Each validation target is scored once, with >= eval window - stride context.
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
    for name in ('num_steps', 'batch_size', 'seq_len', 'eval_every', 'eval_stride',
                 'eval_batch_size', 'checkpoint_every', 'checkpoint_keep', 'log_every',
                 'model_parallelism'):
      if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
        raise errors.ConfigError(f'{name} must be an integer >= 1, got {getattr(self, name)!r}.')
    if not isinstance(self.eval_max_tokens, int) or self.eval_max_tokens < 0:
      raise errors.ConfigError(f'eval_max_tokens must be an integer >= 0 (0: the whole '
                               f'split), got {self.eval_max_tokens!r}.')
    if not isinstance(self.eval_seq_len, int) or self.eval_seq_len < 0:
      raise errors.ConfigError(f'eval_seq_len must be an integer >= 0 (0: seq_len), got '
                               f'{self.eval_seq_len!r}.')
    if self.eval_stride > self.eval_window:
      raise errors.ConfigError(
          f'eval_stride ({self.eval_stride}) must be <= the validation window '
          f'({self.eval_window}: eval_seq_len, or seq_len when it is 0).')
    if self.divergence_factor < 0:
      raise errors.ConfigError(f'divergence_factor must be >= 0 (0 turns the guard off), '
                               f'got {self.divergence_factor}.')
    perturbations.parse_schedule(self.perturbation_schedule)
    object.__setattr__(self, 'profile_steps', core_loop.check_profile_steps(
        self.profile_steps, 'profile_steps (config.profile.steps)'))

  @property
  def eval_window(self) -> int:
    """The validation window length, tokens."""
    return self.eval_seq_len or self.seq_len


def perturbation_key(seed: int, step: int | jax.Array) -> jax.Array:
  """The PRNG key of the perturbations of training step `step`."""
  return jax.random.fold_in(jax.random.PRNGKey(seed ^ 0x5EED), step)


def hebbian_step(params: dict[str, jax.Array], windows_BxT1: jax.Array,
                 key: jax.Array, kind_index: jax.Array, cfg: model_lib.ModelConfig
                 ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """One Hebbian update from a batch of windows; pure, no gradients.

  Runs the forward pass (`model_lib.forward`, the one evaluation and generation
  run), counts the targets, and applies each active component's learning rule
  (`fieldjax.components`) to its own features and the joint prediction's outcome.

  Args:
    params: model parameters (see fieldjax.model).
    windows_BxT1: int32 [B, T + 1]; inputs [:, :-1], targets [:, 1:].
    key: PRNG key of this step's perturbations.
    kind_index: int32 scalar, index into perturbations.KINDS.
    cfg: the model config.

  Returns:
    (new params, metrics): 'ce' (nats/token, the batch's cross-entropy before
    the update), 'coherence' (mean field coherence after evolution),
    'crystal_norm' (Frobenius norm of W after the update).
  """
  inputs_BxT, targets_N = windows_BxT1[:, :-1], windows_BxT1[:, 1:].reshape(-1)
  out = model_lib.forward(params, inputs_BxT, key, kind_index, cfg)
  logp_NxV = jax.nn.log_softmax(out.logits_NxV)
  ce = -jnp.mean(jnp.take_along_axis(logp_NxV, targets_N[:, None], axis=1))
  probs_NxV = jnp.exp(logp_NxV)
  # Every rule learns from the one joint prediction's error (the delta rule, or its Hebbian
  # form for the dense crystal).
  outcome = components.Outcome(targets_N, probs_NxV,
                               jax.nn.one_hot(targets_N, cfg.vocab_size) - probs_NxV)
  # Exact integer counts; a scatter on the CPU, a masked sum on a GPU (crystal.index_sum).
  new_params = {**params, 'counts': params['counts'] + crystal.index_sum(
      jnp.ones(targets_N.shape, params['counts'].dtype), targets_N, cfg.vocab_size)}
  for component in components.active(cfg):
    new_params.update(component.learn(params, out.features[component.name], outcome, cfg))
  metrics = {'ce': ce, 'coherence': jnp.mean(out.coherence_BxS1[:, -1]),
             'crystal_norm': jnp.sqrt(jnp.sum(new_params['crystal'] ** 2))}
  return new_params, metrics


def _sampled_step(params: dict[str, jax.Array], tokens_N: jax.Array, step: jax.Array, *,
                  cfg: model_lib.ModelConfig, seed: int, schedule: perturbations.Schedule,
                  batch_size: int, seq_len: int, mesh: jax.sharding.Mesh | None
                  ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """Training step `step` (int32 scalar, 1-based) on windows drawn from `tokens_N`.

  The batch key, the perturbation key and the perturbation kind are computed here,
  on the device, from the step: the host sends one int32 a step instead of running
  a few eager PRNG ops, and the values are those `windows_lib.batch_key`,
  `perturbation_key` and `perturbations.kind_index_at` give on the host (a test
  checks it), so batches stay a pure function of (seed, step).
  """
  windows = sharding.constrain_batch(windows_lib.sample_windows(
      tokens_N, windows_lib.batch_key(seed, step), batch_size, seq_len), mesh)
  return hebbian_step(params, windows, perturbation_key(seed, step),
                      perturbations.kind_index_at(schedule, step - 1), cfg)


def _given_step(params: dict[str, jax.Array], windows_BxT1: jax.Array, step: jax.Array, *,
                cfg: model_lib.ModelConfig, seed: int, schedule: perturbations.Schedule
                ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """Training step `step` (int32 scalar, 1-based) on a given batch; keys as `_sampled_step`."""
  return hebbian_step(params, windows_BxT1, perturbation_key(seed, step),
                      perturbations.kind_index_at(schedule, step - 1), cfg)


@functools.lru_cache(maxsize=32)
def _compiled(cfg: model_lib.ModelConfig, seed: int, schedule: perturbations.Schedule,
              batch_size: int | None, seq_len: int | None,
              mesh: jax.sharding.Mesh | None) -> Callable[..., Any]:
  """The jitted step (params, tokens or windows, int32 step) -> (params, metrics): on
  windows sampled inside (batch_size and seq_len given) or on a given batch of windows
  (None). With a mesh, the batch is split over `data` and the parameters laid out by
  `model_lib.param_shardings`.

  The parameters are donated: the update writes into their buffers (the sparse
  sites' table of field_best is 545 MB, which an undonated step copies every step),
  so a caller must not read the params it passed in after the call.
  """
  if batch_size is None:
    fn = functools.partial(_given_step, cfg=cfg, seed=seed, schedule=schedule)
  else:
    fn = functools.partial(_sampled_step, cfg=cfg, seed=seed, schedule=schedule,
                           batch_size=batch_size, seq_len=seq_len, mesh=mesh)
  if mesh is None:
    return jax.jit(fn, donate_argnums=0)
  params, everywhere = model_lib.param_shardings(mesh, cfg), sharding.replicated(mesh)
  data = everywhere if batch_size is not None else sharding.batch_sharding(mesh)
  return jax.jit(fn, donate_argnums=0, in_shardings=(params, data, everywhere),
                 out_shardings=(params, everywhere))


def train_step(params: dict[str, jax.Array], tokens_N: jax.Array, step: int,
               cfg: model_lib.ModelConfig, train_cfg: TrainConfig,
               schedule: perturbations.Schedule, mesh: jax.sharding.Mesh | None = None
               ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """Training step `step` (1-based) on random windows of `tokens_N` (jitted).

  The windows and perturbations are a pure function of (seed, step), on any
  number of devices; with a `mesh` the batch is split over its data axis.
  `params` is donated (deleted by the call): use the returned ones.
  """
  step_fn = _compiled(cfg, train_cfg.seed, schedule, train_cfg.batch_size, train_cfg.seq_len,
                      mesh)
  return step_fn(params, tokens_N, np.int32(step))


def stream_step(params: dict[str, jax.Array], windows_BxT1: jax.Array, step: int,
                cfg: model_lib.ModelConfig, train_cfg: TrainConfig,
                schedule: perturbations.Schedule, mesh: jax.sharding.Mesh | None = None
                ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """Training step `step` (1-based) on a given batch (a streamed one; jitted).
  `params` is donated (deleted by the call): use the returned ones."""
  return _compiled(cfg, train_cfg.seed, schedule, None, None, mesh)(
      params, windows_BxT1, np.int32(step))


def copy_params(params: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """A copy on the same devices and layout, for a step that must leave `params` alive
  (the step donates its input)."""
  return jax.tree.map(jnp.copy, params)


# ---------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=('cfg',))
def _window_ce_sum(params, windows_BxT1, mask_BxT, *, cfg):
  logp = model_lib.log_probs(params, windows_BxT1[:, :-1], cfg)
  nll = -jnp.take_along_axis(logp, windows_BxT1[:, 1:, None], axis=-1)[..., 0]
  return jnp.sum(nll * mask_BxT)


def evaluate(params: dict[str, jax.Array], tokens_N: np.ndarray,
             cfg: model_lib.ModelConfig, *, seq_len: int, stride: int,
             batch_size: int = 64, max_tokens: int = 0) -> dict[str, float]:
  """Validation cross-entropy (nats/token), bits/token and perplexity."""
  tokens_N = np.asarray(tokens_N)
  if max_tokens:
    tokens_N = tokens_N[:max_tokens + 1]
  windows, mask = windows_lib.eval_window_batches(tokens_N, seq_len, stride, batch_size)
  total = jnp.float32(0.0)  # Summed on device: one read-back at the end.
  for windows_BxT1, mask_BxT in zip(windows, mask):
    total = total + _window_ce_sum(params, windows_BxT1, mask_BxT, cfg=cfg)
  count = float(mask.sum())
  ce = float(total) / count
  perplexity = math.exp(ce) if ce < 700 else math.inf  # exp(710) overflows a float.
  return {'ce': ce, 'bits': ce / math.log(2), 'perplexity': perplexity,
          'tokens': int(count)}


# ---------------------------------------------------------------------------
# The loop.
# ---------------------------------------------------------------------------


# A training stream: state (JSON-able, None = the beginning) -> iterator of
# (windows int32 [B, T + 1], the state just after that batch).
TrainStream = Callable[[Any], Iterator[tuple[np.ndarray, Any]]]

# TrainConfig fields a resumed run may change: they extend the run or change how
# often it reports (or what it traces), not what it computes. Anything else is
# refused unless allow_config_change.
EXTENDABLE_KEYS = tuple(f'train.{k}' for k in (
    'num_steps', 'eval_every', 'checkpoint_every', 'checkpoint_keep', 'log_every',
    'divergence_factor', 'model_parallelism', 'profile_steps'))
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


def _with_later_defaults(saved_run: dict[str, Any] | None) -> dict[str, Any] | None:
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


def train(cfg: model_lib.ModelConfig, train_cfg: TrainConfig, *,
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
  in the checkpoint, and refuses any change but `EXTENDABLE_KEYS` unless
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
  schedule = perturbations.parse_schedule(train_cfg.perturbation_schedule)
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
  train_record = dataclasses.asdict(train_cfg)
  # The schedule as parsed, so that '{"0":"none"}' and '{"0": "none"}' are one setting.
  train_record['perturbation_schedule'] = [list(entry) for entry in schedule]
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
      family=checkpoints.FAMILY, record=run, extendable=EXTENDABLE_KEYS,
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
      train=run_loop, saved_record=_with_later_defaults)
  return core_run.train_in_workdir(spec, workdir, allow_config_change=allow_config_change,
                                   resume_step=resume_step)


def _train_loop(cfg: model_lib.ModelConfig, train_cfg: TrainConfig,
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
      return train_step(params, tokens_N, step, cfg, train_cfg, schedule, mesh)
    try:
      windows, current['stream_state'] = next(stream)
    except StopIteration:
      raise errors.DataError(f'The training stream ended before step {step}.') from None
    # Each process's stream yields its own rows of the global batch.
    current['windows'] = sharding.global_batch(np.asarray(windows, np.int32), mesh)
    return stream_step(params, current['windows'], step, cfg, train_cfg, schedule, mesh)

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
      _, probe = train_step(copy_params(params), tokens_N, step, cfg, train_cfg, schedule,
                            mesh)
    else:
      _, probe = stream_step(copy_params(params), current['windows'], step, cfg, train_cfg,
                             schedule, mesh)
    return float(probe['ce'])

  def evaluate_params(params) -> dict[str, float]:
    result = evaluate(params, validation_tokens, cfg, seq_len=train_cfg.eval_window,
                      stride=train_cfg.eval_stride, batch_size=train_cfg.eval_batch_size,
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


# ---------------------------------------------------------------------------
# From a config file: data, tokenizer, model and the loop.
# ---------------------------------------------------------------------------


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
  if not isinstance(schedule, str):  # A dict {step: kind}, as config files write it.
    schedule = json.dumps({str(k): v for k, v in _as_dict(schedule).items()})
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
  train_cfg = train_config_from(config)  # Checks the settings before reading any data.
  model_config_from(config.model, 2)  # Checks the model keys likewise.
  data = distributed.primary_first(  # Process 0 prepares the TFDS files and tokenizer.
      lambda: input_pipeline.load(config.data, batch_size=train_cfg.batch_size,
                                  seq_len=train_cfg.seq_len,
                                  eval_max_tokens=train_cfg.eval_max_tokens,
                                  cache_dir=os.path.join(workdir, 'tokenizer')), 'load data')
  cfg = model_config_from(config.model, data.tokenizer.vocab_size)
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
