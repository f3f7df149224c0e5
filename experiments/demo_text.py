r"""The original's text demo: train a Landauer LM, then print a sample from it.

  python -m experiments.demo_text \
    --config=experiments/configs/landauer_original.py --workdir=/tmp/landauer_original \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt \
    --prompt="ROMEO:" --num_chars=500

Training resumes from the workdir's latest checkpoint (a finished run trains no
further), so a second call only samples.
"""

from absl import app
from absl import flags
import jax
from ml_collections import config_flags

from experiments import common
from landauerjax import checkpoints
from landauerjax import sampling
from landauerjax import train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Experiment config file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints and metrics.jsonl.')
flags.DEFINE_string('prompt', 'ROMEO:', 'Text to continue (characters of the vocabulary).')
flags.DEFINE_integer('num_chars', 500, 'Characters to sample.', lower_bound=0)
flags.DEFINE_integer('seed', 0, 'PRNG seed of the sample.')
flags.DEFINE_float('temperature', 0.8, 'Softmax temperature; 0 is greedy.', lower_bound=0.0)
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  common.quiet_libraries()
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  loaded, model, prompt_ids = checkpoints.load_for_prompt(
      FLAGS.workdir, None, FLAGS.prompt)
  chunks = sampling.generate(
      loaded.params, model, prompt_ids,
      FLAGS.num_chars, jax.random.PRNGKey(FLAGS.seed), temperature=FLAGS.temperature)
  print(FLAGS.prompt + ''.join(loaded.vocab.decode(c) for c in chunks))


def cli() -> None:
  """The command line: `main` with one-line errors (experiments.common.run)."""
  common.run(main, trains=True)


if __name__ == '__main__':
  cli()
