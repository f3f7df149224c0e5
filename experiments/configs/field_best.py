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
ABLATIONS lists these and the other variants that scripts/field_best_results.py
runs (their config overrides, each paired with the variant it ablates).
"""

from experiments.configs import field_tiny
from fieldjax import ablation


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


# The previous field_best.py (before recall): its ablations stay rows of their own,
# paired with it, so that every row is compared with the model it ablates.
NO_RECALL = ('model.recall.softening=0', 'eval.seq_len=0', 'eval.stride=64', 'eval.batch_size=64')

_V = ablation.Variant  # What it changes, its overrides, the variant it is paired with.
ABLATIONS = {
    'best': _V('field_best.py as it is', reference=''),
    'field_off': _V("the field's evolution off (--config.model.field.num_steps=0): particles "
                    "stay at their embeddings, charges stay uniform (recall silent)",
                    ('model.field.num_steps=0',)),
    'gravity_off': _V("positions not moved (model.field.gravity=0); charges still relax",
                      ('model.field.gravity=0',)),
    'recall_off': _V("recall off: the field's pull not read (model.recall.softening=0)",
                     ('model.recall.softening=0',)),
    'floor_form': _V('recall without charges: the previous field_best (recall.dt=0, '
                     'softening 0.1, rate 0.02)',
                     ('model.recall.dt=0', 'model.recall.softening=0.1',
                      'model.recall.rate=0.02')),
    'traces_off': _V("recall matched on the particle x' alone, not its traces",
                     ('model.recall.trace_scales=0',)),
    'short_eval': _V('validated on 128-char windows, as trained (stride 64)',
                     ('eval.seq_len=0', 'eval.stride=64')),
    'random_embedding_recall': _V('random instead of golden-spiral embeddings (recall '
                                  'matches on them)', ('model.embedding=random',)),
    'levy_recall': _V('Levy perturbations of the field during training',
                      ("train.perturbation_schedule={0:'levy'}",)),
    'sites_only': _V('the previous field_best: no recall, 128-char validation windows',
                     NO_RECALL),
    'sites_only_field_off': _V('sites_only without gravity (field.num_steps=0)',
                               NO_RECALL + ('model.field.num_steps=0',), 'sites_only'),
    'traces_on': _V("sites_only with the field's traces at 5 golden time scales in the lattice",
                    NO_RECALL + ('model.field.trace_scales=5',), 'sites_only'),
    'sites_off': _V('no sparse crystal (the old dense model)',
                    NO_RECALL + ('model.sites.table_bits=0',), 'sites_only'),
    'dense_off': _V('no dense crystal (its rate 0: sparse sites and prior only)',
                    NO_RECALL + ('model.eta=0',), 'sites_only'),
    'fixed_rate': _V('sites at a fixed rate 0.1, no annealing (cap kept)',
                     NO_RECALL + ('model.sites.eta=0.1', 'model.sites.floor=0.1'), 'sites_only'),
    'orders_1_4': _V('sites of orders 1-4 only', NO_RECALL + ('model.sites.orders=(1,2,3,4)',),
                     'sites_only'),
    'random_embedding': _V('random instead of golden-spiral embeddings',
                           NO_RECALL + ('model.embedding=random',), 'sites_only'),
    'levy': _V('Levy perturbations of the field during training',
               NO_RECALL + ("train.perturbation_schedule={0:'levy'}",), 'sites_only'),
    'lattice_instar': _V('the lattice learned by the competitive instar rule (rate 0.1, 16 '
                         'winners) instead of fixed', NO_RECALL + ('model.lattice_rule=instar',),
                         'sites_only'),
    'lattice_instar_slow': _V('the same at rate 0.01', NO_RECALL + (
        'model.lattice_rule=instar', 'model.lattice_rate=0.01'), 'sites_only'),
}
# Run with every seed; the others with the first seed only.
ALL_SEEDS = ('best', 'field_off', 'gravity_off', 'sites_only', 'sites_only_field_off')
