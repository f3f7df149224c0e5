r"""GRU baseline at the seed model's parameter count (103,233 vs 103,809).

Same data, steps, optimiser and inertia penalty as landauer_original.py.

  python -m experiments.train_landauer \
    --config=experiments/configs/landauer_gru.py --workdir=/tmp/landauer_gru \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt
"""

import ml_collections

from experiments.configs import landauer_original


def get_config() -> ml_collections.ConfigDict:
  config = landauer_original.get_config()
  config.model.variant = 'gru'
  config.model.hidden_dim = 91
  return config
