"""Landauer LM checkpoints that carry their own config and vocabulary.

Layout (`landauerjax.core.checkpoints`): `WORKDIR/checkpoints/<step>/` with
orbax items `state` (the train state pytree {'params', 'opt_state', 'step'})
and `meta` (JSON: {'family': 'landauer', 'model': ModelConfig fields, 'vocab':
{'chars'}, 'config': the experiment config, 'run': the run record}), and the
`sha256.json` manifest every restore verifies. A checkpoint alone is enough to
evaluate or sample from.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax

from landauerjax import models
from landauerjax.core import checkpoints as core_checkpoints
from landauerjax.core import errors
from landauerjax.core.tokenizers import CharVocab

FAMILY = 'landauer'
checkpoint_dir = core_checkpoints.checkpoint_dir


def make_meta(model_config: models.ModelConfig, vocab: CharVocab,
              config: dict[str, Any], run: dict[str, Any] | None = None) -> dict[str, Any]:
  return {'family': FAMILY, 'model': dataclasses.asdict(model_config),
          'vocab': vocab.to_json(), 'config': config, 'run': run}


def family_of(meta: dict[str, Any]) -> str:
  """'landauer' or 'field' (checkpoints before the 'family' key are told by their keys)."""
  if 'family' in meta:
    return str(meta['family'])
  return 'field' if 'tokenizer' in meta else FAMILY


def check_family(meta: dict[str, Any], directory: str) -> None:
  """Raises CheckpointError when `meta` is not a Landauer LM checkpoint's."""
  family = family_of(meta)
  if family == 'field':
    raise errors.CheckpointError(
        f'{directory} holds a field LM checkpoint, not a Landauer LM one: use '
        f'`python -m experiments.field generate PROMPT --checkpoint={directory}`.')
  if family != FAMILY:
    raise errors.CheckpointError(f'{directory} holds a {family!r} checkpoint, not a '
                                 'Landauer LM one.')


def model_config_of(meta: dict[str, Any], step: int) -> models.ModelConfig:
  try:
    return models.ModelConfig(**meta['model'])
  except (KeyError, TypeError, ValueError) as e:
    raise core_checkpoints.UnusableCheckpoint(
        step, f'its model config cannot be read by this version ({e})') from e


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
    abstract_params = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
        jax.eval_shape(functools.partial(models.init_params, model_config),
                       jax.random.PRNGKey(0)))
    state = store.restore_state(candidate, {'params': abstract_params}, partial=True)
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
