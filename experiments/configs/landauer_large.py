r"""The original's larger run: seq 256, hidden 512, energy 0.01, scaling 1.618.

  python -m experiments.train_landauer \
    --config=experiments/configs/landauer_large.py --workdir=/tmp/landauer_large \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt
"""

import ml_collections

from experiments.configs import landauer_original


def get_config() -> ml_collections.ConfigDict:
  config = landauer_original.get_config()
  config.model.hidden_dim = 512
  config.model.phase_scaling = 1.618
  config.train.seq_len = 256
  config.train.energy_weight = 0.01
  return config
