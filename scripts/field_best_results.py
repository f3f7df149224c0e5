r"""The field LM of issue 14: its runs, ablations and learning curves, in one table.

  python -m scripts.field_best_results --print_commands | sh    # the runs (see RUNS)
  python -m scripts.field_best_results                           # the table and the PNG

Each run is `experiments/configs/field_best.py` with the overrides of its row in
RUNS, on Tiny Shakespeare, in --runs/NAME_sSEED. The collector reads each
run's metrics.jsonl and run.json (validation CE over the whole split, wall
time, parameter count) and prints mean ± sd over seeds, the difference to the
row's reference with the seeds paired (`best`, or `sites_only`, the previous
field_best without recall, for its own ablations), and plots the validation
curves to --png.

--earlier=docs/field_best.json --earlier_rows=ROW,... fills the runs of those
rows missing from --runs with the runs of an earlier collection: for rows whose
model a change of field_best.py leaves as it was (such as the rows without
recall), and only those, which is why they are named. The table marks each
such row '(earlier)' (with the count when only some seeds are), and the JSON
records where every run came from. The earlier file is read before
--output_json is written, so both may be the same file; rows no longer in RUNS
are not carried over (git has them).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from typing import NamedTuple

from absl import app
from absl import flags
import numpy as np

from experiments import common

FLAGS = flags.FLAGS

class Run(NamedTuple):
  """One row: what it changes, its overrides of field_best.py, the row it is paired with."""
  what: str
  overrides: tuple[str, ...] = ()
  reference: str = 'best'


# The previous field_best.py (before recall): its ablations stay rows of their own,
# paired with it, so that every row is compared with the model it ablates.
NO_RECALL = ('model.recall.softening=0', 'eval.seq_len=0', 'eval.stride=64', 'eval.batch_size=64')

RUNS: dict[str, Run] = {
    'best': Run('field_best.py as it is', reference=''),
    'field_off': Run("the field's evolution off (--config.model.field.num_steps=0): particles "
                     "stay at their embeddings, charges stay uniform (recall silent)",
                     ('model.field.num_steps=0',)),
    'gravity_off': Run("positions not moved (model.field.gravity=0); charges still relax",
                       ('model.field.gravity=0',)),
    'recall_off': Run("recall off: the field's pull not read (model.recall.softening=0)",
                      ('model.recall.softening=0',)),
    'floor_form': Run('recall without charges: the previous field_best (recall.dt=0, '
                      'softening 0.1, rate 0.02)',
                      ('model.recall.dt=0', 'model.recall.softening=0.1',
                       'model.recall.rate=0.02')),
    'traces_off': Run("recall matched on the particle x' alone, not its traces",
                      ('model.recall.trace_scales=0',)),
    'short_eval': Run('validated on 128-char windows, as trained (stride 64)',
                      ('eval.seq_len=0', 'eval.stride=64')),
    'random_embedding_recall': Run('random instead of golden-spiral embeddings (recall '
                                   'matches on them)', ('model.embedding=random',)),
    'levy_recall': Run('Levy perturbations of the field during training',
                       ("train.perturbation_schedule={0:'levy'}",)),
    'sites_only': Run('the previous field_best: no recall, 128-char validation windows',
                      NO_RECALL),
    'sites_only_field_off': Run('sites_only without gravity (field.num_steps=0)',
                                NO_RECALL + ('model.field.num_steps=0',), 'sites_only'),
    'traces_on': Run("sites_only with the field's traces at 5 golden time scales in the lattice",
                     NO_RECALL + ('model.field.trace_scales=5',), 'sites_only'),
    'sites_off': Run('no sparse crystal (the old dense model)',
                     NO_RECALL + ('model.sites.table_bits=0',), 'sites_only'),
    'dense_off': Run('no dense crystal (its rate 0: sparse sites and prior only)',
                     NO_RECALL + ('model.eta=0',), 'sites_only'),
    'fixed_rate': Run('sites at a fixed rate 0.1, no annealing (cap kept)',
                      NO_RECALL + ('model.sites.eta=0.1', 'model.sites.floor=0.1'), 'sites_only'),
    'orders_1_4': Run('sites of orders 1-4 only', NO_RECALL + ('model.sites.orders=(1,2,3,4)',),
                      'sites_only'),
    'random_embedding': Run('random instead of golden-spiral embeddings',
                            NO_RECALL + ('model.embedding=random',), 'sites_only'),
    'levy': Run('Levy perturbations of the field during training',
                NO_RECALL + ("train.perturbation_schedule={0:'levy'}",), 'sites_only'),
    'lattice_instar': Run('the lattice learned by the competitive instar rule (rate 0.1, 16 '
                          'winners) instead of fixed', NO_RECALL + ('model.lattice_rule=instar',),
                          'sites_only'),
    'lattice_instar_slow': Run('the same at rate 0.01', NO_RECALL + (
        'model.lattice_rule=instar', 'model.lattice_rate=0.01'), 'sites_only'),
}
THREE_SEED_ROWS = ('best', 'field_off', 'gravity_off', 'sites_only', 'sites_only_field_off')


def define_flags() -> None:
  """This script's flags; defined only when it runs, so that tests can import it."""
  flags.DEFINE_string('runs', '/tmp/field_best_runs', 'Directory of the runs NAME_sSEED.')
  flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds of the reference rows.')
  flags.DEFINE_list('three_seed_rows', list(THREE_SEED_ROWS), 'Rows run with every seed; '
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


def planned_runs(seeds: Sequence[int], three_seed_rows: Sequence[str]) -> list[tuple[str, int]]:
  """(name, seed) of every run: all seeds for `three_seed_rows`, the first for the rest."""
  return [(name, seed) for name in RUNS
          for seed in (seeds if name in three_seed_rows else seeds[:1])]


def command(name: str, seed: int, runs: str, local_path: str, extra: Sequence[str]) -> str:
  overrides = [f'seed={seed}', f'data.local_path={local_path}', *RUNS[name].overrides, *extra]
  return ' '.join(['python -m experiments.field train',
                   '--config=experiments/configs/field_best.py',
                   shlex.quote(f'--workdir={os.path.join(runs, f"{name}_s{seed}")}')] +
                  [shlex.quote(f'--config.{o}') for o in overrides])


def read_run(workdir: str) -> dict | None:
  """{'val_ce', 'wall_s', 'params', 'curve': {step: val_ce}} of a finished run, else None."""
  try:
    with open(os.path.join(workdir, 'run.json')) as f:
      run = json.load(f)
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      lines = [json.loads(l) for l in f if l.strip()]
  except (OSError, ValueError):
    return None
  return {'val_ce': run['final']['val_ce'], 'wall_s': run.get('wall_seconds'),
          'params': run.get('params'),
          'curve': {l['step']: l['val_ce'] for l in lines if 'val_ce' in l}, 'source': workdir}


def _earlier_source(path: str, run: dict) -> str:
  """Where an earlier run came from: its own record if it was already an earlier one (a
  collection read again), else the file and the workdir it recorded (if any)."""
  if run.get('earlier'):
    return run['source']
  return f'{path}: {run["source"]}' if run.get('source') else path


def read_earlier(path: str) -> dict[str, dict[int, dict]]:
  """{name: {seed: run}} of an earlier --output_json, each run marked 'earlier' and its
  'source' naming the file (and the run's own source, when the file recorded one)."""
  with open(path) as f:
    saved = json.load(f)
  return {name: {int(seed): {**run, 'curve': {int(k): v for k, v in run['curve'].items()},
                             'earlier': True, 'source': _earlier_source(path, run)}
                 for seed, run in by_seed.items()} for name, by_seed in saved.items()}


def table(results: dict[str, dict[int, dict]]) -> str:
  """Markdown rows: mean ± sd over seeds and the seed-paired difference to the row's
  reference (`best`, or `sites_only` for the ablations of the previous field_best)."""
  lines = ['| run | what changes | seeds | val nats/char | vs reference (paired) | wall (s) |',
           '|---|---|---:|---:|---:|---:|']
  for name, by_seed in results.items():
    if not by_seed:
      continue
    ces = np.array([r['val_ce'] for r in by_seed.values()])
    spread = f' ± {ces.std(ddof=1):.4f}' if len(ces) > 1 else ''
    reference = RUNS[name].reference
    other = results.get(reference, {})
    paired = [by_seed[s]['val_ce'] - other[s]['val_ce'] for s in by_seed if s in other]
    diff = '' if not paired else (
        f'{np.mean(paired):+.4f}' + (f' ± {np.std(paired, ddof=1):.4f}' if len(paired) > 1
                                     else '') + f' ({reference})')
    walls = [r['wall_s'] for r in by_seed.values() if r['wall_s']]
    wall = f'{np.mean(walls):.0f}' if walls else ''
    from_earlier = sum(bool(r.get('earlier')) for r in by_seed.values())
    earlier = ('' if not from_earlier else ' (earlier)' if from_earlier == len(by_seed)
               else f' (earlier: {from_earlier}/{len(by_seed)} seeds)')
    lines.append(f'| {name}{earlier} | {RUNS[name].what} | {len(ces)} | '
                 f'{ces.mean():.4f}{spread} | {diff} | {wall} |')
  return '\n'.join(lines)


def plot(results: dict[str, dict[int, dict]], path: str) -> None:
  """Validation curves: left `best` and its ablations, right `sites_only` (the previous
  field_best) and its own; the first seed solid, the others faint."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  groups = (('best', 'field_best.py and the field\'s ablations'),
            ('sites_only', 'sites_only (the previous field_best) and its ablations'))
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
  for (reference, title), ax in zip(groups, axes):
    names = [n for n in results if results[n] and (n == reference or
                                                   RUNS[n].reference == reference)]
    top = max([max(r['curve'].values()) for n in names for r in results[n].values()
               if r['curve']] or [2.1])
    for index, name in enumerate(names):
      for i, (_, r) in enumerate(sorted(results[name].items())):
        steps = sorted(r['curve'])
        ax.plot(steps, [r['curve'][s] for s in steps], marker='o', ms=3,
                label=name if i == 0 else None, color=plt.cm.tab10(index % 10),
                ls='-' if index < 10 else '--',
                lw=2.0 if name == reference else 1.2, alpha=0.9 if i == 0 else 0.35)
    for level, text, style in ((2.045, 'KN trigram 2.045', '--'), (1.558, 'KN 6-gram 1.558', ':')):
      if level < top:  # A panel near the 6-gram leaves the trigram out, to stay readable.
        ax.axhline(level, ls=style, c='gray', lw=1)
        ax.text(ax.get_xlim()[0], level, ' ' + text, va='bottom', fontsize=8, c='gray')
    ax.set_xlabel('training step (4,096 characters each)')
    ax.set_ylabel('validation cross-entropy (nats/char)')
    ax.set_title(title, fontsize=10)
    if names:
      ax.legend(fontsize=7, ncol=2)
  fig.suptitle('Field LM, Tiny Shakespeare, whole validation split', fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  seeds = [int(s) for s in FLAGS.seeds]
  plan = planned_runs(seeds, FLAGS.three_seed_rows)
  if FLAGS.print_commands:
    for name, seed in plan:
      print(command(name, seed, FLAGS.runs, FLAGS.local_path, FLAGS.extra))
    return
  results: dict[str, dict[int, dict]] = {name: {} for name in RUNS}
  unknown = sorted(set(FLAGS.earlier_rows) - set(RUNS))
  if unknown:
    raise app.UsageError(f'--earlier_rows names no row of RUNS: {unknown}; the rows are '
                         f'{list(RUNS)}.')
  if FLAGS.earlier_rows and not FLAGS.earlier:
    raise app.UsageError('--earlier_rows needs --earlier (the JSON to read them from).')
  try:
    earlier = read_earlier(FLAGS.earlier) if FLAGS.earlier else {}
  except (OSError, ValueError, KeyError, AttributeError) as e:
    raise app.UsageError(f'--earlier={FLAGS.earlier} is not a readable collection of this '
                         f'script (its --output_json): {e!r}') from e
  for name, seed in plan:
    run = read_run(os.path.join(FLAGS.runs, f'{name}_s{seed}'))
    if run is None and name in FLAGS.earlier_rows:
      run = earlier.get(name, {}).get(seed)
    if run is None:
      print(f'missing or unfinished: {name}_s{seed}')
    else:
      results[name][seed] = run
  print(table(results))
  if FLAGS.png:
    plot(results, FLAGS.png)
  if FLAGS.output_json:
    with open(FLAGS.output_json, 'w') as f:
      json.dump({name: {str(s): r for s, r in by_seed.items()}
                 for name, by_seed in results.items()}, f, indent=1)


if __name__ == '__main__':
  define_flags()
  common.run(main)
