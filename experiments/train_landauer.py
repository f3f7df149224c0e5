r"""Trains a Landauer LM. Flags: --config (a file of experiments/configs), --workdir.

  python -m experiments.train_landauer \
    --config=experiments/configs/landauer_original.py --workdir=/tmp/landauer_original \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt \
    --config.train.num_steps=200

Re-running with the same --workdir resumes from its newest checkpoint that
verifies; a run with another config or data in that workdir is refused unless
--allow_config_change. Errors print one line (--debug: the traceback).
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments import common
from landauerjax import config_schema
from landauerjax import train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints and metrics.jsonl.')
flags.DEFINE_bool('allow_config_change', False,
                  'Resume a workdir although the config or data differ from its run '
                  '(other than num_steps and the cadences, which may always change).')
flags.DEFINE_integer('step', None, 'Resume from this checkpoint step instead of the newest '
                     'that verifies; newer ones are moved to WORKDIR/checkpoints_set_aside/.',
                     lower_bound=0)
flags.mark_flags_as_required(['config', 'workdir'])
common.define_distributed_flags()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  common.quiet_libraries()
  metrics = train.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                                     allow_config_change=FLAGS.allow_config_change,
                                     resume_step=FLAGS.step)
  logging.info('Final evaluation: %s', metrics)


def cli() -> None:
  """The command line: `main` with one-line errors (experiments.common.run)."""
  common.run(main, trains=True, renamed_config_keys=config_schema.RENAMED_KEYS)


if __name__ == '__main__':
  cli()
