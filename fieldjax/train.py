"""Hebbian training of the field LM: a pure jitted step, evaluation, the loop.

Nothing here takes a gradient. `hebbian_step` computes the field, the
lattice features and the readout's probabilities (a forward pass), then
applies the crystal's Hebbian rule and counts the targets.

Determinism: batch `step` is drawn with `landauerjax.input_pipeline.batch_key
(seed, step)` and perturbed with `perturbation_key(seed, step)`, so a resumed
run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import Any, Callable, Iterator

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import checkpoints
from fieldjax import crystal
from fieldjax import model as model_lib
from fieldjax import perturbations
from landauerjax import input_pipeline as landauer_input
from landauerjax import metrics as landauer_metrics


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  num_steps: int = 2000
  batch_size: int = 32
  seq_len: int = 128
  seed: int = 0
  perturbation_schedule: str = '{"0": "none"}'
  eval_every: int = 500
  eval_stride: int = 64      # Each validation target is scored once, with >= seq_len - stride context.
  eval_max_tokens: int = 0   # 0: the whole validation split.
  eval_batch_size: int = 64
  checkpoint_every: int = 500
  checkpoint_keep: int = 2
  log_every: int = 100

  def __post_init__(self):
    for name in ('num_steps', 'batch_size', 'seq_len', 'eval_every', 'eval_stride',
                 'eval_batch_size', 'checkpoint_every', 'checkpoint_keep', 'log_every'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}.')
    if self.eval_stride > self.seq_len:
      raise ValueError(f'eval_stride ({self.eval_stride}) must be <= seq_len ({self.seq_len}).')
    perturbations.parse_schedule(self.perturbation_schedule)


def perturbation_key(seed: int, step: int | jax.Array) -> jax.Array:
  """The PRNG key of the perturbations of training step `step`."""
  return jax.random.fold_in(jax.random.PRNGKey(seed ^ 0x5EED), step)


def hebbian_step(params: dict[str, jax.Array], windows_BxT1: jax.Array,
                 key: jax.Array, kind_index: jax.Array, cfg: model_lib.ModelConfig
                 ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """One Hebbian update from a batch of windows; pure, no gradients.

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
  inputs_BxT, targets_BxT = windows_BxT1[:, :-1], windows_BxT1[:, 1:]
  batch, length = inputs_BxT.shape
  keys = jax.random.split(key, batch)
  phi_BxTxD, coh_BxS = jax.vmap(
      lambda t, k: model_lib.features(params, t, k, kind_index, cfg))(inputs_BxT, keys)
  phi_NxD = phi_BxTxD.reshape(batch * length, -1)
  targets_N = targets_BxT.reshape(-1)
  logits_NxV = model_lib.logits_from_features(params, phi_NxD, cfg)
  logp_NxV = jax.nn.log_softmax(logits_NxV)
  ce = -jnp.mean(jnp.take_along_axis(logp_NxV, targets_N[:, None], axis=1))
  post_NxE = crystal.postsynaptic(jnp.exp(logp_NxV), targets_N,
                                  model_lib.embedding_table(cfg), cfg.hebbian_rule)
  new_crystal = crystal.crystal_update(params['crystal'], phi_NxD, post_NxE,
                                       cfg.eta, cfg.decay)
  new_counts = params['counts'].at[targets_N].add(1.0)
  new_params = {**params, 'crystal': new_crystal, 'counts': new_counts}
  metrics = {'ce': ce, 'coherence': jnp.mean(coh_BxS[:, -1]),
             'crystal_norm': jnp.sqrt(jnp.sum(new_crystal ** 2))}
  return new_params, metrics


@functools.partial(jax.jit, static_argnames=('cfg', 'batch_size', 'seq_len'))
def _train_step(params, tokens_N, batch_key, perturb_key, kind_index, *, cfg,
                batch_size, seq_len):
  windows = landauer_input.sample_windows(tokens_N, batch_key, batch_size, seq_len)
  return hebbian_step(params, windows, perturb_key, kind_index, cfg)


def train_step(params: dict[str, jax.Array], tokens_N: jax.Array, step: int,
               cfg: model_lib.ModelConfig, train_cfg: TrainConfig,
               schedule: perturbations.Schedule
               ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """Training step `step` (1-based) on random windows of `tokens_N`."""
  return _train_step(
      params, tokens_N, landauer_input.batch_key(train_cfg.seed, step),
      perturbation_key(train_cfg.seed, step),
      perturbations.kind_index_at(schedule, step - 1),
      cfg=cfg, batch_size=train_cfg.batch_size, seq_len=train_cfg.seq_len)


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
  windows, mask = landauer_input.eval_window_batches(tokens_N, seq_len, stride, batch_size)
  total = jnp.float32(0.0)  # Summed on device: one read-back at the end.
  for windows_BxT1, mask_BxT in zip(windows, mask):
    total = total + _window_ce_sum(params, windows_BxT1, mask_BxT, cfg=cfg)
  count = float(mask.sum())
  ce = float(total) / count
  return {'ce': ce, 'bits': ce / math.log(2), 'perplexity': math.exp(ce),
          'tokens': int(count)}


# ---------------------------------------------------------------------------
# The loop.
# ---------------------------------------------------------------------------


_jit_hebbian_step = jax.jit(hebbian_step, static_argnames=('cfg',))

# A training stream: state (JSON-able, None = the beginning) -> iterator of
# (windows int32 [B, T + 1], the state just after that batch).
TrainStream = Callable[[Any], Iterator[tuple[np.ndarray, Any]]]


def train(cfg: model_lib.ModelConfig, train_cfg: TrainConfig, *,
          validation_tokens: np.ndarray, workdir: str,
          train_tokens: np.ndarray | None = None, train_stream: TrainStream | None = None,
          meta: dict[str, Any] | None = None,
          on_eval: Callable[[int, dict[str, float]], None] | None = None
          ) -> dict[str, Any]:
  """Trains in `workdir`, resuming from its latest checkpoint.

  Training data is either `train_tokens` (a corpus held in memory; batch
  `step` is B random windows drawn with batch_key(seed, step)) or
  `train_stream` (e.g. `fieldjax.datasets.token_batches` over a TFDS text
  stream, for corpora too large to hold; its state is saved in every
  checkpoint's meta as 'stream_state', so a resumed run continues with the
  same batches).

  Writes WORKDIR/metrics.jsonl (train lines: step, train_loss, coherence,
  tokens_per_sec; evaluation lines also val_ce, val_perplexity) and orbax
  checkpoints whose meta holds `cfg` and `meta` (e.g. the tokenizer).
  Returns the last evaluation's metrics.
  """
  os.makedirs(workdir, exist_ok=True)
  schedule = perturbations.parse_schedule(train_cfg.perturbation_schedule)
  if (train_tokens is None) == (train_stream is None):
    raise ValueError('Pass exactly one of train_tokens and train_stream.')
  if train_tokens is not None and len(train_tokens) < train_cfg.seq_len + 1:
    raise ValueError(f'The training split has {len(train_tokens)} tokens, fewer than '
                     f'one window of seq_len + 1 = {train_cfg.seq_len + 1}.')
  full_meta = {'model': cfg.to_json(), 'train': dataclasses.asdict(train_cfg),
               **(meta or {})}
  manager = checkpoints.make_manager(workdir, train_cfg.checkpoint_keep)
  params = model_lib.init_params(cfg, jax.random.PRNGKey(train_cfg.seed))
  start = 0
  stream_state = None
  latest = manager.latest_step()
  if latest is not None:
    _, saved_meta = checkpoints.read_meta(workdir, latest)
    stream_state = saved_meta.get('stream_state')
    checkpoints.check_compatible(model_lib.ModelConfig.from_json(saved_meta['model']),
                                 cfg, workdir)
    state = checkpoints.restore_state(manager, latest, {'params': params,
                                                        'step': jnp.int32(0)})
    params, start = state['params'], int(state['step'])
    logging.info('Resumed from step %d of %s.', start, workdir)
  logging.info('Field LM: %d parameters, vocabulary %d.', model_lib.param_count(cfg),
               cfg.vocab_size)

  writer = landauer_metrics.MetricsWriter(workdir, start)
  if train_tokens is not None:
    tokens_N = jnp.asarray(train_tokens, jnp.int32)
  else:
    stream = iter(train_stream(stream_state))
  tokens_per_step = train_cfg.batch_size * train_cfg.seq_len
  last_eval: dict[str, Any] = {}
  timer_step, timer = start, time.perf_counter()
  try:
    for step in range(start + 1, train_cfg.num_steps + 1):
      if train_tokens is not None:
        params, metrics = train_step(params, tokens_N, step, cfg, train_cfg, schedule)
      else:
        try:
          windows, stream_state = next(stream)
        except StopIteration:
          raise ValueError(f'The training stream ended before step {step}.') from None
        params, metrics = _jit_hebbian_step(
            params, jnp.asarray(windows, jnp.int32), perturbation_key(train_cfg.seed, step),
            perturbations.kind_index_at(schedule, step - 1), cfg=cfg)
      is_log = step % train_cfg.log_every == 0 or step == train_cfg.num_steps
      is_eval = step % train_cfg.eval_every == 0 or step == train_cfg.num_steps
      is_save = step % train_cfg.checkpoint_every == 0 or step == train_cfg.num_steps
      if not (is_log or is_eval or is_save):
        continue
      metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
      if not all(math.isfinite(v) for v in metrics.values()):
        raise FloatingPointError(
            f'Non-finite metrics at step {step}: {metrics}. Training stopped; the last '
            f'good checkpoint is kept in {checkpoints.checkpoint_dir(workdir)!r}.')
      elapsed = time.perf_counter() - timer
      rate = (step - timer_step) * tokens_per_step / max(elapsed, 1e-9)
      record = {'step': step, 'train_loss': metrics['ce'],
                'coherence': metrics['coherence'],
                'crystal_norm': metrics['crystal_norm'], 'tokens_per_sec': rate,
                'perturbation': perturbations.kind_at(schedule, step - 1)}
      eta_s = (train_cfg.num_steps - step) * tokens_per_step / max(rate, 1e-9)
      logging.info('step %d/%d: train ce %.4f, coherence %.3f | %.0f tokens/s, ETA %.0fs',
                   step, train_cfg.num_steps, metrics['ce'], metrics['coherence'],
                   rate, eta_s)
      if is_save:
        checkpoints.save(manager, step, {'params': params, 'step': jnp.int32(step)},
                         {**full_meta, 'stream_state': stream_state})
      if is_eval:
        t0 = time.perf_counter()
        result = evaluate(params, validation_tokens, cfg, seq_len=train_cfg.seq_len,
                          stride=train_cfg.eval_stride,
                          batch_size=train_cfg.eval_batch_size,
                          max_tokens=train_cfg.eval_max_tokens)
        last_eval = {'val_ce': result['ce'], 'val_perplexity': result['perplexity'],
                     'val_tokens': result['tokens']}
        record.update(last_eval)
        logging.info('step %d: val_ce %.4f nats/token (perplexity %.2f) over %d tokens [%.1fs]',
                     step, result['ce'], result['perplexity'], result['tokens'],
                     time.perf_counter() - t0)
        if on_eval is not None:
          on_eval(step, last_eval)
      writer.write(record)
      timer_step, timer = step, time.perf_counter()
  finally:  # Commit any checkpoint in flight, also when training fails.
    manager.wait_until_finished()
    manager.close()
  return last_eval
