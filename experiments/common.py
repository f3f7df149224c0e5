"""Small pieces the entry points share."""

import logging as std_logging
import os

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


def write_marked_section(path: str, name: str, body: str, title: str) -> None:
  """Puts `body` between `<!-- name:start -->` and `<!-- name:end -->` in `path`.

  Replaces what the markers held and keeps the rest of the file; appends the
  section when the file has no markers, and creates the file (headed by
  `title`) when it does not exist. A file with only one of the two markers is
  left untouched: ValueError.
  """
  start_marker, end_marker = f'<!-- {name}:start -->', f'<!-- {name}:end -->'
  block = f'{start_marker}\n{body.rstrip()}\n{end_marker}'
  text = ''
  if os.path.exists(path):
    with open(path) as f:
      text = f.read()
  start, end = text.find(start_marker), text.find(end_marker)
  if start >= 0 and end > start:
    text = text[:start] + block + text[end + len(end_marker):]
  elif start >= 0 or end >= 0:
    raise ValueError(f'{path} has only one of the markers {start_marker!r} / '
                     f'{end_marker!r}; fix it by hand.')
  elif text.strip():
    text = text.rstrip('\n') + '\n\n' + block + '\n'
  else:
    text = f'{title}\n\n{block}\n'
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)
