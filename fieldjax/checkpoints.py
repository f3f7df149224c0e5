"""Orbax checkpoints of the field LM, carrying their own config and tokenizer.

Layout: `WORKDIR/checkpoints/<step>/{state,meta}`; `state` is
{'params': ..., 'step': int}, `meta` is JSON {'model': ModelConfig fields,
'tokenizer': the tokenizer's JSON, 'train': the run's settings}. A checkpoint
alone is enough to evaluate, sample or analyse.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from fieldjax import model as model_lib
from landauerjax import checkpoints as landauer_checkpoints


# The orbax layout and save are the same as the Landauer LM's.
checkpoint_dir = landauer_checkpoints.checkpoint_dir
make_manager = landauer_checkpoints.make_manager
save = landauer_checkpoints.save


def read_meta(workdir: str, step: int | None = None) -> tuple[int, dict[str, Any]]:
  """(step, meta) of a checkpoint (the latest when step is None)."""
  directory = checkpoint_dir(workdir)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'No checkpoints in {workdir!r} (no {directory!r}).')
  steps = sorted(int(s) for s in os.listdir(directory) if s.isdigit())
  if not steps:
    raise FileNotFoundError(f'No checkpoints in {directory!r}.')
  step = steps[-1] if step is None else step
  if step not in steps:
    raise FileNotFoundError(f'No checkpoint of step {step} in {directory!r}; have {steps}.')
  with open(os.path.join(directory, str(step), 'meta', 'metadata')) as f:
    return step, json.load(f)


def restore_state(manager: ocp.CheckpointManager, step: int, abstract_state: Any) -> Any:
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state)))
  return restored['state']


def check_compatible(saved: model_lib.ModelConfig, wanted: model_lib.ModelConfig,
                     workdir: str) -> None:
  """Raises if a workdir's checkpoint has other shapes than the requested model."""
  keys = ('vocab_size', 'embed_dim', 'lags', 'lattice_dim')
  diff = {k: (getattr(saved, k), getattr(wanted, k)) for k in keys
          if getattr(saved, k) != getattr(wanted, k)}
  if diff:
    detail = ', '.join(f'{k}: checkpoint {a} vs requested {b}' for k, (a, b) in diff.items())
    raise ValueError(
        f'The checkpoint in {workdir!r} is of another model size ({detail}). '
        'Use a new --workdir, or the same --model_size and tokenizer.')


def load(workdir: str, step: int | None = None
         ) -> tuple[int, dict[str, jax.Array], model_lib.ModelConfig, dict[str, Any]]:
  """(step, params, model config, meta) of a saved run, for inference."""
  step, meta = read_meta(workdir, step)
  cfg = model_lib.ModelConfig.from_json(meta['model'])
  abstract = {'params': jax.eval_shape(
      lambda k: model_lib.init_params(cfg, k), jax.random.PRNGKey(0)),
              'step': 0}
  manager = make_manager(workdir)
  try:
    state = restore_state(manager, step, abstract)
  finally:
    manager.close()
  return step, state['params'], cfg, meta
