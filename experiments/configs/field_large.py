r"""The field LM at its `large` size (736M parameters): `field_tiny.py` with larger dimensions.

  python -m experiments.field train --config=experiments/configs/field_large.py \
    --workdir=/tmp/field_large --config.data.dataset=wikitext-103 \
    --config.data.local_path=wikitext-103-raw-v1.zip

Sized for accelerators (docs/BENCHMARKS.md has its step time on this CPU); pick
the data with the config.data keys (`field_tiny.py` lists every key).
"""

from experiments.configs import field_tiny


def get_config():
  config = field_tiny.get_config()
  config.model.embed_dim = 768
  config.model.lags = 8
  config.model.lattice_dim = 106496
  return config
