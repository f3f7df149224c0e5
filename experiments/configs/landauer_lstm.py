r"""LSTM baseline at the seed model's parameter count (102,895 vs 103,809).

Same data, steps, optimiser and inertia penalty as landauer_original.py.

  python -m experiments.train_landauer \
    --config=experiments/configs/landauer_lstm.py --workdir=/tmp/landauer_lstm \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt
"""

import ml_collections

from experiments.configs import landauer_original


def get_config() -> ml_collections.ConfigDict:
  config = landauer_original.get_config()
  config.model.variant = 'lstm'
  config.model.hidden_dim = 78
  return config
