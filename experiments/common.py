"""Small pieces the entry points share."""

import logging as std_logging

from absl import logging

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
