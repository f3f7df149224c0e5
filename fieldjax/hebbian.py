"""The field LM's training step: pure, jitted, no gradient anywhere.

`hebbian_step` runs the model's forward pass (`fieldjax.model.forward`), then
counts the targets and applies each component's Hebbian rule
(`fieldjax.components`). `train_step` / `stream_step` are its jitted forms on a
corpus held on the devices or on given windows.

Determinism: batch `step` is drawn with `landauerjax.core.windows.batch_key
(seed, step)` and perturbed with `perturbation_key(seed, step)`, so a resumed
run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import components
from fieldjax import config_schema
from fieldjax import crystal
from fieldjax import model as model_lib
from fieldjax import perturbations
from landauerjax.core import sharding
from landauerjax.core import windows as windows_lib


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
               cfg: model_lib.ModelConfig, train_cfg: config_schema.TrainConfig,
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
                cfg: model_lib.ModelConfig, train_cfg: config_schema.TrainConfig,
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
