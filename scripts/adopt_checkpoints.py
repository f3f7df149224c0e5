r"""Adopts checkpoints written before checksums existed, so that they load again.

  python -m scripts.adopt_checkpoints --workdir=/tmp/landauer_original

Every restore verifies a step's files against its `sha256.json`; a step
without one (written by a version before checksums, or by a save that a kill
cut short) is skipped. This command checks each such step of a workdir (orbax
reads it whole and every value is finite) and writes its manifest. Both models'
workdirs work. It holds the workdir's lock, so no trainer runs meanwhile.
"""

from absl import app
from absl import flags

from experiments import common
from landauerjax.core import checkpoints
from landauerjax.core import errors
from landauerjax.core import workdir as workdir_lib

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run directory holding checkpoints/.')
flags.mark_flag_as_required('workdir')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  store = checkpoints.CheckpointStore(_WORKDIR.value)
  if not store.steps():
    raise errors.CheckpointError(f'No checkpoint in {store.directory}.')
  with workdir_lib.WorkdirLock(_WORKDIR.value):
    report = store.adopt()
  for step, outcome in sorted(report.items()):
    print(f'step {step}: {outcome}')
  if not report:
    print(f'Every checkpoint in {store.directory} already has its manifest.')
  if any(outcome != 'adopted' for outcome in report.values()):
    raise errors.CheckpointError('Some steps were not adopted (see above): they stay unusable.')


def cli() -> None:
  """The command line: `main` with one-line errors (experiments.common.run)."""
  common.run(main)


if __name__ == '__main__':
  cli()
