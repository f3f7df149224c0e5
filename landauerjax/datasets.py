"""Moved to `landauerjax.core.text_builders` and `landauerjax.core.text_sources`.

Transitional: re-exports the old names until scripts/ imports the new modules.
"""

from landauerjax.core.text_builders import *  # noqa: F401,F403
from landauerjax.core.text_builders import BUILDERS  # noqa: F401
from landauerjax.core.text_sources import load_text_splits  # noqa: F401
