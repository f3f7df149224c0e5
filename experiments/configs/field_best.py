r"""The best field LM on the 2-core CPU (issue 14): a sparse crystal beside the field, and recall.

  python -m experiments.field train --config=experiments/configs/field_best.py \
    --workdir=/tmp/field_best --config.data.local_path=../shared/data/tiny_shakespeare.txt

`field_tiny.py` plus 2^21 hashed context sites of orders 1..8 (fieldjax/sites.py)
and recall through the field's pull (fieldjax/recall.py: each particle's charge,
what follows it, relaxes with the field towards the successors of the earlier
particles that pull it hardest, matched on the particle and its first two
traces), trained for 400 steps of 32 x 128 characters (1.6M characters, ~1.6
passes over the train split), validated on windows of 1,024 characters (every
target once, with >= 512 characters before it) so that recall has a long past to
read. docs/RESULTS.md has its numbers over 3 seeds and the ablation of each part
(`python -m scripts.field_best_results`); docs/fieldjax.md the equations.

The field's share (docs/fieldjax.md section 9): --config.model.field.num_steps=0
turns the field's evolution off, gravity's and the charges' (recall is then
silent); --config.model.field.gravity=0 keeps the particles where they are and
the charges relaxing; --config.model.recall.softening=0 turns recall off.
"""

from experiments.configs import field_tiny


def get_config():
  config = field_tiny.get_config()
  config.model.sites.table_bits = 21
  config.model.recall.softening = 0.05  # eps of the pull, field units.
  config.model.recall.dt = 3e-4  # The charges' step: one exact match (a pull of 8,000) ~ 2.4.
  # The gains' delta rule (seed 0, before the masses: 0.02: 1.5177, 0.1 to 1.0: 1.5145-1.5150).
  config.model.recall.rate = 0.3
  config.train.num_steps = 400
  config.eval.every = 100
  config.eval.seq_len = 1024
  config.eval.stride = 512
  config.eval.batch_size = 16  # 16 x 1024^2 pulls per batch: ~70 MB a matrix.
  config.checkpoint.every = 400
  config.checkpoint.keep = 1
  return config
