"""Field LM checkpoints that carry their own config and tokenizer.

Layout (`landauerjax.core.checkpoints`, shared with the Landauer LM):
`WORKDIR/checkpoints/<step>/` with orbax items `state` ({'params': ...,
'step': int}) and `meta` (JSON {'family': 'field', 'model': ModelConfig
fields, 'tokenizer': the tokenizer's JSON, 'train': the run's settings,
'run': the run record, 'stream_state': where a streamed input stands}), and
the `sha256.json` manifest every restore verifies. A checkpoint alone is
enough to evaluate, sample or analyse.

`export` writes a checkpoint's parameters as plain files (safetensors and a
JSON of config and tokenizer, `landauerjax.core.exports`); `load_export`
reads them back as `load` returns a checkpoint.
"""

from __future__ import annotations

from typing import Any

import jax

from fieldjax import model as model_lib
from landauerjax.core import checkpoints as core_checkpoints
from landauerjax.core import errors
from landauerjax.core import exports
from landauerjax.core import run as core_run

FAMILY = 'field'
checkpoint_dir = core_checkpoints.checkpoint_dir
UnusableCheckpoint = core_checkpoints.UnusableCheckpoint


family_of = core_run.family_of


def check_family(meta: dict[str, Any], directory: str) -> None:
  """Raises CheckpointError when `meta` is not a field LM checkpoint's
  (`core.run.check_family`)."""
  core_run.check_family(meta, FAMILY, directory)


def model_config_of(meta: dict[str, Any], step: int) -> model_lib.ModelConfig:
  try:
    return model_lib.ModelConfig.from_json(meta['model'])
  except (KeyError, TypeError, ValueError) as e:
    raise UnusableCheckpoint(
        step, f'its model config cannot be read by this version ({e})') from e


def validation_window(meta: dict[str, Any]) -> int:
  """The window, in tokens, the checkpoint's run was validated on: its eval_seq_len, else
  its seq_len (128 for a checkpoint that records neither). Generation's default context."""
  settings = meta.get('train') or {}
  return int(settings.get('eval_seq_len') or settings.get('seq_len') or 128)


def abstract_state(cfg: model_lib.ModelConfig) -> dict[str, Any]:
  """Shapes and dtypes of the saved state {'params', 'step'}, allocating nothing."""
  return {'params': jax.eval_shape(lambda k: model_lib.init_params(cfg, k),
                                   jax.random.PRNGKey(0)),
          'step': jax.ShapeDtypeStruct((), 'int32')}


def load(workdir: str, step: int | None = None
         ) -> tuple[int, dict[str, jax.Array], model_lib.ModelConfig, dict[str, Any]]:
  """(step, params, model config, meta) of the newest checkpoint that verifies.

  An unusable newest checkpoint (corrupt, unverified, non-finite) is skipped
  with a one-line warning; with `step`, only that step is loaded.

  Raises:
    errors.CheckpointError: no checkpoint, none that verifies, the given step
      missing or unusable, or a Landauer LM checkpoint.
  """
  store = core_checkpoints.CheckpointStore(workdir)
  if not store.steps():
    raise errors.CheckpointError(
        f'No checkpoint in {store.directory}: train first (python -m experiments.field '
        'train --workdir=DIR), or pass the directory a training run wrote.')

  def load_step(candidate: int):
    meta = store.read_meta(candidate)
    check_family(meta, workdir)
    cfg = model_config_of(meta, candidate)
    state = store.restore_state(candidate, abstract_state(cfg))
    return state['params'], cfg, meta

  step, (params, cfg, meta) = store.restore_latest(load_step, step=step)
  return step, params, cfg, meta


def export(loaded: tuple[int, dict[str, jax.Array], model_lib.ModelConfig, dict[str, Any]],
           directory: str, source: str = '') -> str:
  """Writes what `load` returned, (step, params, cfg, meta), as DIRECTORY/model.safetensors
  and DIRECTORY/config.json ('vocab': the checkpoint's tokenizer JSON; 'train': its run's
  settings); returns DIRECTORY.

  Raises errors.ConfigError when DIRECTORY exists and is not empty (nothing is written).
  """
  step, params, cfg, meta = loaded
  return exports.write(directory, params, {
      'family': FAMILY, 'model': cfg.to_json(), 'vocab': meta['tokenizer'], 'step': step,
      'source': source, 'train': meta.get('train')})


def load_export(directory: str
                ) -> tuple[int, dict[str, jax.Array], model_lib.ModelConfig, dict[str, Any]]:
  """(step, params, model config, meta) of an export, as `load` gives them for the
  checkpoint it came from; meta is its config.json, with 'tokenizer' (= 'vocab') as a
  checkpoint's meta has it (`tokenizers.tokenizer_from_json(meta['tokenizer'])`).

  Raises:
    errors.CheckpointError: a missing, corrupt or non-finite export, one of the
      Landauer LM, or parameters other than its model config's.
  """
  def config_of(meta: dict[str, Any]) -> model_lib.ModelConfig:
    try:
      return model_lib.ModelConfig.from_json(meta['model'])
    except (KeyError, TypeError, ValueError) as e:
      raise errors.CheckpointError(f'The model config of the export {directory} cannot be '
                                   f'read by this version ({e}).') from None

  params, meta = exports.read(directory, FAMILY,
                              lambda meta: abstract_state(config_of(meta))['params'])
  return (int(meta.get('step', 0)), jax.device_put(params), config_of(meta),
          {**meta, 'tokenizer': meta['vocab']})
