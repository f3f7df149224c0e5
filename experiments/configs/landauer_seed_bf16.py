"""Old name of `landauer_original_bf16.py`; kept so that commands written for it still run."""

from experiments.configs.landauer_original_bf16 import get_config  # noqa: F401
