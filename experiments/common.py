"""Small pieces the entry points share."""

import logging as std_logging

from absl import app
from absl import logging

from landauerjax import checkpoints
from landauerjax import models

_NOISY_PACKAGES = ('/orbax/', '/tensorflow_datasets/', '/etils/', '/jax/')


class _OwnInfoOnly(std_logging.Filter):
  """Keeps INFO records from our code; libraries only at WARNING and above."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    if record.levelno >= std_logging.WARNING:
      return True
    return not any(p in record.pathname for p in _NOISY_PACKAGES)


def quiet_libraries() -> None:
  """Shows our own INFO logs; hides TFDS progress bars and library chatter."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds.disable_progress_bar()
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_OwnInfoOnly())


def load_checkpoint_and_prompt(workdir: str, step: int | None, prompt: str):
  """(Inference bundle, LandauerLM, prompt ids int32[P]) with clear errors.

  Unknown prompt characters raise ValueError naming them; an empty prompt
  raises app.UsageError.
  """
  loaded = checkpoints.load_for_inference(workdir, step)
  prompt_ids = loaded.vocab.encode(prompt)
  if len(prompt_ids) == 0:
    raise app.UsageError('--prompt is empty: give at least one character.')
  return loaded, models.LandauerLM(loaded.model_config), prompt_ids
