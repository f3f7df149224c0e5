"""Landauer LM checkpoints that carry their own config and vocabulary.

Layout (`landauerjax.core.checkpoints`): `WORKDIR/checkpoints/<step>/` with
orbax items `state` (the train state pytree {'params', 'opt_state', 'step'})
and `meta` (JSON: {'family': 'landauer', 'model': ModelConfig fields, 'vocab':
{'chars'}, 'config': the experiment config, 'run': the run record}), and the
`sha256.json` manifest every restore verifies. A checkpoint alone is enough to
evaluate or sample from.

`export` writes a checkpoint's parameters as plain files (safetensors and a
JSON of config and vocabulary, `landauerjax.core.exports`); `load_export`
reads them back into the same `Inference` bundle.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax

from landauerjax import models
from landauerjax.core import checkpoints as core_checkpoints
from landauerjax.core import errors
from landauerjax.core import exports
from landauerjax.core import run as core_run
from landauerjax.core.tokenizers import CharVocab

FAMILY = 'landauer'
checkpoint_dir = core_checkpoints.checkpoint_dir


def make_meta(model_config: models.ModelConfig, vocab: CharVocab,
              config: dict[str, Any], run: dict[str, Any] | None = None) -> dict[str, Any]:
  return {'family': FAMILY, 'model': dataclasses.asdict(model_config),
          'vocab': vocab.to_json(), 'config': config, 'run': run}


family_of = core_run.family_of


def check_family(meta: dict[str, Any], directory: str) -> None:
  """Raises CheckpointError when `meta` is not a Landauer LM checkpoint's
  (`core.run.check_family`)."""
  core_run.check_family(meta, FAMILY, directory)


def model_config_of(meta: dict[str, Any], step: int) -> models.ModelConfig:
  try:
    return models.ModelConfig(**meta['model'])
  except (KeyError, TypeError, ValueError) as e:
    raise core_checkpoints.UnusableCheckpoint(
        step, f'its model config cannot be read by this version ({e})') from e


def abstract_params(model_config: models.ModelConfig) -> Any:
  """Shapes and dtypes of the parameters of `model_config`, allocating nothing."""
  return jax.eval_shape(functools.partial(models.init_params, model_config),
                        jax.random.PRNGKey(0))


@dataclasses.dataclass(frozen=True)
class Inference:
  """What eval and generate need: parameters, model config, vocabulary."""

  params: Any
  model_config: models.ModelConfig
  vocab: CharVocab
  config: dict[str, Any]
  step: int
  run: dict[str, Any] | None = None  # The run record (config and data fingerprint).


def load_for_inference(workdir: str, step: int | None = None) -> Inference:
  """The parameters and metadata of the newest checkpoint of `workdir` that verifies.

  An unusable newest checkpoint (corrupt, unverified, non-finite) is skipped
  with a one-line warning; with `step`, only that step is loaded.

  Raises:
    errors.CheckpointError: no checkpoint at all, none that verifies, the
      given step missing or unusable, or a field LM checkpoint.
  """
  store = core_checkpoints.CheckpointStore(workdir)
  if not store.steps():
    raise errors.CheckpointError(
        f'No checkpoint in {store.directory}: train first, or pass the --workdir that a '
        'training run wrote.')

  def load(candidate: int) -> Inference:
    meta = store.read_meta(candidate)
    check_family(meta, workdir)
    model_config = model_config_of(meta, candidate)
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
        abstract_params(model_config))
    state = store.restore_state(candidate, {'params': abstract}, partial=True)
    return Inference(state['params'], model_config,
                     CharVocab.from_json(meta['vocab']),
                     meta.get('config', {}), candidate, meta.get('run'))

  return store.restore_latest(load, step=step)[1]


def load_for_prompt(workdir: str, step: int | None, prompt: str
                    ) -> tuple[Inference, models.LandauerLM, Any]:
  """(`load_for_inference`, its LandauerLM, the prompt's ids int32[P]) for a command
  line's --prompt.

  Raises:
    errors.ConfigError: an empty prompt, or characters outside the vocabulary.
    errors.CheckpointError: as `load_for_inference`.
  """
  if not prompt:
    raise errors.ConfigError('--prompt is empty: give at least one character.')
  loaded = load_for_inference(workdir, step)
  try:
    prompt_ids = loaded.vocab.encode(prompt)
  except ValueError as e:
    raise errors.ConfigError(f'--prompt: {e}') from None
  return loaded, models.LandauerLM(loaded.model_config), prompt_ids


def save_params_only(workdir: str, params: Any, model_config: models.ModelConfig,
                     vocab: CharVocab, config: dict[str, Any],
                     step: int = 0) -> str:
  """Writes an inference-only checkpoint (e.g. imported weights); returns its dir."""
  store = core_checkpoints.CheckpointStore(workdir)
  store.save(step, {'params': params, 'step': step}, make_meta(model_config, vocab, config))
  return store.step_dir(step)


def export(loaded: Inference, directory: str, source: str = '') -> str:
  """Writes `loaded` (e.g. `load_for_inference(workdir)`) as DIRECTORY/model.safetensors
  and DIRECTORY/config.json ('config': the experiment config); returns DIRECTORY.

  Raises errors.ConfigError when DIRECTORY exists and is not empty (nothing is written).
  """
  return exports.write(directory, loaded.params, {
      'family': FAMILY, 'model': dataclasses.asdict(loaded.model_config),
      'vocab': loaded.vocab.to_json(), 'step': loaded.step, 'source': source,
      'config': loaded.config})


def load_export(directory: str) -> Inference:
  """The `Inference` bundle of an export (`export`, `python -m experiments.export`):
  the same parameters, model config and vocabulary as the checkpoint it came from.

  Raises:
    errors.CheckpointError: a missing, corrupt or non-finite export, one of the
      field LM, or parameters other than its model config's.
  """
  params, meta = exports.read(
      directory, FAMILY, lambda meta: abstract_params(_export_model_config(meta, directory)))
  return Inference(jax.device_put(params), _export_model_config(meta, directory),
                   CharVocab.from_json(meta['vocab']), meta.get('config') or {},
                   int(meta.get('step', 0)))


def _export_model_config(meta: dict[str, Any], directory: str) -> models.ModelConfig:
  try:
    return models.ModelConfig(**meta['model'])
  except (KeyError, TypeError, ValueError) as e:
    raise errors.CheckpointError(f'The model config of the export {directory} cannot be read '
                                 f'by this version ({e}).') from None
