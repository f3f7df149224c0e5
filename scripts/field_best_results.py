r"""The field LM of issue 14: its runs, ablations and learning curves, in one table.

  python -m scripts.field_best_results --print_commands | sh    # the runs
  python -m scripts.field_best_results                           # the table and the PNG

Each run is `experiments/configs/field_best.py` with the overrides of its row in
its ABLATIONS, on Tiny Shakespeare, in --runs/NAME_sSEED. The collector
(`fieldjax.ablation`) reads each run's metrics.jsonl and run.json (validation CE
over the whole split, wall time, parameter count) and prints mean ± sd over
seeds, the difference to the row's reference with the seeds paired (`best`, or
`sites_only`, the previous field_best without recall, for its own ablations),
and plots the validation curves to --png.

--earlier=docs/field_best.json --earlier_rows=ROW,... fills the runs of those
rows missing from --runs with the runs of an earlier collection: only for rows
whose model a change of field_best.py left as it was, hence named. The table
marks them '(earlier)' and the JSON records where every run came from. The
earlier file is read before --output_json is written (both may be one file);
rows no longer in ABLATIONS are not carried over (git has them).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from absl import app
from absl import flags

from experiments import common
from experiments.configs import field_best
from fieldjax import ablation
from landauerjax.core import reports

RUNS = field_best.ABLATIONS
FLAGS = flags.FLAGS
flags.DEFINE_string('runs', '/tmp/field_best_runs', 'Directory of the runs NAME_sSEED.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds of the reference rows.')
flags.DEFINE_list('three_seed_rows', list(field_best.ALL_SEEDS), 'Rows run with every seed; '
                  'the others with the first seed only.')
flags.DEFINE_string('local_path', '../shared/data/tiny_shakespeare.txt', 'The corpus.')
flags.DEFINE_list('extra', [], 'Overrides added to every run (e.g. train.num_steps=300).')
flags.DEFINE_bool('print_commands', False, 'Print the training commands and exit.')
flags.DEFINE_string('png', 'docs/field_best_curves.png', "Learning curves ('' = none).")
flags.DEFINE_string('output_json', 'docs/field_best.json', "Results ('' = none).")
flags.DEFINE_string('earlier', '', 'JSON of an earlier collection (its --output_json) that '
                    'fills the missing runs of --earlier_rows, marked (earlier).')
flags.DEFINE_list('earlier_rows', [], 'The rows --earlier may fill: those whose model is '
                  'unchanged since it was collected.')


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  plan = ablation.planned_runs(RUNS, [int(s) for s in FLAGS.seeds], FLAGS.three_seed_rows)
  if FLAGS.print_commands:
    for name, seed in plan:
      print(ablation.train_command(
          'experiments/configs/field_best.py', os.path.join(FLAGS.runs, f'{name}_s{seed}'),
          [f'seed={seed}', f'data.local_path={FLAGS.local_path}', *RUNS[name].overrides,
           *FLAGS.extra]))
    return
  results: dict[str, dict[int, dict]] = {name: {} for name in RUNS}
  unknown = sorted(set(FLAGS.earlier_rows) - set(RUNS))
  if unknown:
    raise app.UsageError(f'--earlier_rows names no row of field_best.ABLATIONS: {unknown}; '
                         f'the rows are {list(RUNS)}.')
  if FLAGS.earlier_rows and not FLAGS.earlier:
    raise app.UsageError('--earlier_rows needs --earlier (the JSON to read them from).')
  try:
    earlier = ablation.read_earlier(FLAGS.earlier) if FLAGS.earlier else {}
  except (OSError, ValueError, KeyError, AttributeError) as e:
    raise app.UsageError(f'--earlier={FLAGS.earlier} is not a readable collection of this '
                         f'script (its --output_json): {e!r}') from e
  for name, seed in plan:
    run = ablation.read_run(os.path.join(FLAGS.runs, f'{name}_s{seed}'))
    if run is None and name in FLAGS.earlier_rows:
      run = earlier.get(name, {}).get(seed)
    if run is None:
      print(f'missing or unfinished: {name}_s{seed}')
    else:
      results[name][seed] = run
  print(ablation.paired_table(RUNS, results))
  if FLAGS.png:  # Left `best` and its ablations, right `sites_only` and its own.
    ablation.plot_curves(
        RUNS, results, FLAGS.png, panels=(
            ('best', "field_best.py and the field's ablations"),
            ('sites_only', 'sites_only (the previous field_best) and its ablations')),
        levels=((2.045, 'KN trigram 2.045', '--'), (1.558, 'KN 6-gram 1.558', ':')),
        xlabel='training step (4,096 characters each)',
        title='Field LM, Tiny Shakespeare, whole validation split')
  reports.write_json(FLAGS.output_json, {name: {str(s): r for s, r in by_seed.items()}
                                         for name, by_seed in results.items()})


if __name__ == '__main__':
  common.run(main)
