"""Orbax checkpoints that carry their own config and vocabulary.

Layout: `WORKDIR/checkpoints/<step>/{state,meta}` where `state` is the train
state pytree ({'params', 'opt_state', 'step'}) and `meta` is JSON:
{'model': ModelConfig fields, 'vocab': {'chars'}, 'config': the experiment
config}. A checkpoint is therefore enough to evaluate or sample from.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from landauerjax import input_pipeline
from landauerjax import models


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), 'checkpoints')


def make_manager(workdir: str, keep: int = 3) -> ocp.CheckpointManager:
  """A manager that keeps the `keep` latest checkpoints of `workdir`."""
  options = ocp.CheckpointManagerOptions(
      preservation_policy=ocp.checkpoint_managers.LatestN(n=keep),
      create=True)
  return ocp.CheckpointManager(checkpoint_dir(workdir), options=options,
                               item_names=('state', 'meta'))


def make_meta(model_config: models.ModelConfig, vocab: input_pipeline.CharVocab,
              config: dict[str, Any]) -> dict[str, Any]:
  return {'model': dataclasses.asdict(model_config), 'vocab': vocab.to_json(),
          'config': config}


def save(manager: ocp.CheckpointManager, step: int, state: Any,
         meta: dict[str, Any]) -> None:
  """Saves asynchronously; call `manager.wait_until_finished()` before exiting."""
  manager.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
      force=True)


def restore_latest(manager: ocp.CheckpointManager, abstract_state: Any
                   ) -> tuple[int, Any] | None:
  """(step, state) of the latest checkpoint, shaped like `abstract_state`; or None."""
  step = manager.latest_step()
  if step is None:
    return None
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state)))
  return step, restored['state']


@dataclasses.dataclass(frozen=True)
class Inference:
  """What eval and generate need: parameters, model config, vocabulary."""

  params: Any
  model_config: models.ModelConfig
  vocab: input_pipeline.CharVocab
  config: dict[str, Any]
  step: int


def load_for_inference(workdir: str, step: int | None = None) -> Inference:
  """Loads the latest (or given) checkpoint of `workdir` with its metadata.

  Raises FileNotFoundError when there is no checkpoint and ValueError naming
  the directory when the checkpoint cannot be read.
  """
  directory = checkpoint_dir(workdir)
  if not os.path.isdir(directory):
    raise FileNotFoundError(
        f'No checkpoint directory {directory!r}: train first, or pass the '
        '--workdir that a training run wrote.')
  manager = ocp.CheckpointManager(directory, item_names=('state', 'meta'))
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'No checkpoint found in {directory!r}.')
  try:
    meta = manager.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))['meta']
    model_config = models.ModelConfig(**meta['model'])
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract_params = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
        jax.eval_shape(functools.partial(models.init_params, model_config),
                       jax.random.PRNGKey(0)))
    item = {'params': abstract_params}
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.PyTreeRestore(
            item=item, restore_args=ocp.checkpoint_utils.construct_restore_args(item),
            partial_restore=True)))
    params = restored['state']['params']
  except Exception as e:  # Orbax raises many types; name the checkpoint.
    raise ValueError(
        f'Checkpoint {os.path.join(directory, str(step))!r} is missing or '
        f'corrupt ({type(e).__name__}: {e}).') from e
  return Inference(params, model_config,
                   input_pipeline.CharVocab.from_json(meta['vocab']),
                   meta.get('config', {}), step)


def save_params_only(workdir: str, params: Any, model_config: models.ModelConfig,
                     vocab: input_pipeline.CharVocab, config: dict[str, Any],
                     step: int = 0) -> str:
  """Writes an inference-only checkpoint (e.g. imported weights); returns its dir."""
  manager = make_manager(workdir)
  save(manager, step, {'params': params, 'step': step},
       make_meta(model_config, vocab, config))
  manager.wait_until_finished()
  manager.close()
  return os.path.join(checkpoint_dir(workdir), str(step))
