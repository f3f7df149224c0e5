r"""Writes a checkpoint's parameters as plain files: safetensors and a JSON of config and vocabulary.

  python -m experiments.export --workdir=/tmp/best --output=/tmp/best_export [--step=N]

Either model: the checkpoint says which. --output gets `model.safetensors`
(every parameter, keyed by its path joined with '/') and `config.json` (model
config, vocabulary, step, source workdir, the safetensors file's sha256); see
landauerjax/core/exports.py. Read it back with
`landauerjax.checkpoints.load_export(DIR)` (an `Inference` bundle) or
`fieldjax.checkpoints.load_export(DIR)` ((step, params, config, meta), as
`fieldjax.checkpoints.load`). The checkpoint loaded is the newest that
verifies (or --step's); --output must not exist or be empty, and is written
whole or not at all. Prints one JSON line: output, family, step, tensors, bytes.
"""

import json
import os

from absl import app
from absl import flags
from absl import logging

from experiments import common
from fieldjax import checkpoints as field_checkpoints
from landauerjax import checkpoints
from landauerjax.core import checkpoints as core_checkpoints
from landauerjax.core import errors
from landauerjax.core import exports

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Training workdir holding checkpoints/ (either model).')
flags.DEFINE_string('output', None, 'Directory to write the export into: new, or empty.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest that verifies).',
                     lower_bound=0)
flags.mark_flags_as_required(['workdir', 'output'])


def family_of_workdir(workdir: str, step: int | None) -> str:
  """'landauer' or 'field': the family in the meta of the newest step that verifies (or of
  `step`); 'landauer' when none does (its loader then says what is wrong, in one line)."""
  store = core_checkpoints.CheckpointStore(workdir)
  steps = store.steps() if step is None else [step]
  for candidate in reversed(steps):
    try:
      return checkpoints.family_of(store.read_meta(candidate))
    except errors.CheckpointError:
      continue
  return checkpoints.FAMILY


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  common.quiet_libraries()
  if not FLAGS.output:
    raise errors.ConfigError('--output is empty: name the directory to write the export into.')
  output = exports.check_output(FLAGS.output)
  workdir = os.path.abspath(FLAGS.workdir)
  inside = core_checkpoints.checkpoint_dir(workdir)
  if os.path.commonpath([os.path.realpath(output), os.path.realpath(inside)]) == \
      os.path.realpath(inside):
    raise errors.ConfigError(f'--output={FLAGS.output} is inside {inside}, where it would be '
                             'taken for a checkpoint: pick a directory outside it.')
  family = family_of_workdir(workdir, FLAGS.step)
  if family == field_checkpoints.FAMILY:
    loaded = field_checkpoints.load(workdir, FLAGS.step)
    step, params = loaded[:2]
    field_checkpoints.export(loaded, output, source=workdir)
  else:
    loaded = checkpoints.load_for_inference(workdir, FLAGS.step)
    step, params = loaded.step, loaded.params
    checkpoints.export(loaded, output, source=workdir)
  weights = os.path.join(output, exports.WEIGHTS)
  logging.info('Exported step %d of %s to %s.', step, workdir, output)
  print(json.dumps({'output': output, 'family': family, 'step': step,
                    'tensors': len(exports.flatten(params)),
                    'bytes': os.path.getsize(weights)}), flush=True)


def cli() -> None:
  """The command line: `main` with one-line errors (experiments.common.run)."""
  common.run(main)


if __name__ == '__main__':
  cli()
