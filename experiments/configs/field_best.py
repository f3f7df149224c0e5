r"""The best field LM on the 2-core CPU (issue 14): a sparse crystal beside the field.

  python -m experiments.field train --config=experiments/configs/field_best.py \
    --workdir=/tmp/field_best --config.data.local_path=../shared/data/tiny_shakespeare.txt

`field_tiny.py` plus 2^21 hashed context sites of orders 1..8 (fieldjax/sites.py),
trained for 400 steps (1.6M characters, ~1.6 passes over the train split).
docs/RESULTS.md has its numbers over 3 seeds and the ablation of each part
(`python -m scripts.field_best_results`); docs/fieldjax.md the equations. The
field's traces (`model.field.trace_scales`) stay off: they made no measurable
difference there.
"""

from experiments.configs import field_tiny


def get_config():
  config = field_tiny.get_config()
  config.model.sites.table_bits = 21
  config.train.num_steps = 400
  config.eval.every = 100
  config.checkpoint.every = 400
  config.checkpoint.keep = 1
  return config
