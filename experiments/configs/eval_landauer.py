r"""Overrides for `experiments.eval_landauer` (the defaults of its --config.KEY flags).

  python -m experiments.eval_landauer --workdir=/tmp/landauer_original \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt

Empty strings mean: take the value saved with the checkpoint.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      'seed': 0,  # Of the one random batch of --all_protocols.
      'data': {'dataset': '', 'local_path': '', 'data_dir': ''},
      'eval': {'num_streams': 32, 'window': 256},
  })
