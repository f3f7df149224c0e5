"""Old name of `landauer_original.py` (the variant 'seed' is now 'original'); kept so
that commands written for it still run. New commands should use landauer_original.py."""

from experiments.configs.landauer_original import get_config  # noqa: F401
