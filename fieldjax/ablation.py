"""Ablations of the field LM: a config against its variants, and the tables of their runs.

Two kinds. A grid (`run_grid`, `markdown`; `python -m experiments.field
ablation`) trains one base config for every dataset x embedding x perturbation
in this process, one cell after another (each in its own workdir under the
grid's, so a rerun resumes every cell); a cell whose data cannot be read (no
offline copy of a dataset) is recorded as skipped and the grid goes on.

A study (`Variant`, `planned_runs`, `train_command`, `read_run`, `paired_table`,
`plot_curves`; `scripts/field_best_results.py`) names variants of one config by
their overrides, each paired with a reference variant; its runs are separate
`experiments.field train` commands in WORKDIR/NAME_sSEED, and the collector
reads each finished run's run.json and metrics.jsonl into a table of mean +- sd
over seeds and the seed-paired difference to the reference.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from absl import logging
import numpy as np

from fieldjax import train as train_lib
from landauerjax.core import metrics as core_metrics


def run_grid(base: Any, workdir: str, *, datasets: Sequence[str], embeddings: Sequence[str],
             perturbations: Sequence[str], local_paths: Mapping[str, str]
             ) -> list[dict[str, Any]]:
  """Trains `base` (an experiment config) once per cell into WORKDIR/DATASET-EMB-KIND,
  with that dataset (its offline copy from `local_paths`, else ''), that embedding and
  that perturbation for the whole run.

  Returns:
    One row per cell: {'dataset', 'embedding', 'perturbation', 'status': 'ok' or
    'skipped: <why>', and for 'ok' 'val_ce', 'val_perplexity', 'wall_seconds'}.
  """
  rows = []
  for dataset in datasets:
    for embedding in embeddings:
      for kind in perturbations:
        cell = os.path.join(workdir, f'{dataset}-{embedding}-{kind}')
        row = {'dataset': dataset, 'embedding': embedding, 'perturbation': kind}
        config = copy.deepcopy(base)
        config.data.dataset = dataset
        config.data.local_path = local_paths.get(dataset, '')
        config.model.embedding = embedding
        config.train.perturbation_schedule = {0: kind}
        try:
          run = train_lib.train_and_evaluate(config, cell)
          row.update(val_ce=run['final']['val_ce'],
                     val_perplexity=run['final']['val_perplexity'],
                     wall_seconds=run['wall_seconds'], status='ok')
        except (FileNotFoundError, OSError) as e:  # e.g. no offline copy of the dataset.
          row.update(status=f'skipped: {e}')
          logging.warning('Cell %s skipped: %s', cell, e)
        rows.append(row)
  return rows


def markdown(name: str, base: Any, rows: Sequence[dict[str, Any]]) -> str:
  """The grid `name`'s table: a line of its settings, then a row per cell."""
  lines = [f'Ablation `{name}`: {base.train.num_steps} Hebbian steps of batch '
           f'{base.train.batch_size} x {base.train.seq_len}, model d={base.model.embed_dim} '
           f'K={base.model.lags} D={base.model.lattice_dim}, seed {base.seed}; validation CE '
           'in nats/token (canonical split).', '',
           '| dataset | embedding | perturbation | val CE | perplexity | wall (s) |',
           '|---|---|---|---:|---:|---:|']
  for r in rows:
    if r['status'] == 'ok':
      wall = f"{r['wall_seconds']:.0f}" if r['wall_seconds'] is not None else ''
      lines.append(f"| {r['dataset']} | {r['embedding']} | {r['perturbation']} | "
                   f"{r['val_ce']:.4f} | {r['val_perplexity']:.2f} | {wall} |")
    else:
      lines.append(f"| {r['dataset']} | {r['embedding']} | {r['perturbation']} | "
                   f"{r['status']} | | |")
  return '\n'.join(lines)


class Variant(NamedTuple):
  """One variant of a study: what it changes, its config overrides, the variant it is
  paired with ('' for none)."""
  what: str
  overrides: tuple[str, ...] = ()
  reference: str = 'best'


def planned_runs(variants: Mapping[str, Variant], seeds: Sequence[int],
                 all_seed_variants: Sequence[str]) -> list[tuple[str, int]]:
  """(name, seed) of every run: all seeds for `all_seed_variants`, the first for the rest."""
  return [(name, seed) for name in variants
          for seed in (seeds if name in all_seed_variants else seeds[:1])]


def train_command(config_path: str, workdir: str, overrides: Sequence[str]) -> str:
  """The shell command that trains `config_path` with `overrides` (KEY=VALUE) in `workdir`."""
  return ' '.join(['python -m experiments.field train', f'--config={config_path}',
                   shlex.quote(f'--workdir={workdir}')] +
                  [shlex.quote(f'--config.{o}') for o in overrides])


def val_curve(workdir: str) -> dict[int, float]:
  """{step: val_ce} of the evaluations in WORKDIR/metrics.jsonl ({} without one)."""
  lines = core_metrics.read_metrics(core_metrics.metrics_path(workdir))
  return {l['step']: l['val_ce'] for l in lines if 'val_ce' in l}


def read_run(workdir: str) -> dict | None:
  """{'val_ce', 'wall_s', 'params', 'curve': {step: val_ce}, 'source'} of a finished
  run (its run.json), else None."""
  try:
    with open(os.path.join(workdir, train_lib.RUN_FILE)) as f:
      run = json.load(f)
  except (OSError, ValueError):
    return None
  return {'val_ce': run['final']['val_ce'], 'wall_s': run.get('wall_seconds'),
          'params': run.get('params'), 'curve': val_curve(workdir), 'source': workdir}


def _earlier_source(path: str, run: dict) -> str:
  """Where an earlier run came from: its own record if it was already an earlier one (a
  collection read again), else the file and the workdir it recorded (if any)."""
  if run.get('earlier'):
    return run['source']
  return f'{path}: {run["source"]}' if run.get('source') else path


def read_earlier(path: str) -> dict[str, dict[int, dict]]:
  """{name: {seed: run}} of an earlier collection (JSON of {name: {seed: run}}), each
  run marked 'earlier' and its 'source' naming the file (and the run's own source,
  when the file recorded one)."""
  with open(path) as f:
    saved = json.load(f)
  return {name: {int(seed): {**run, 'curve': {int(k): v for k, v in run['curve'].items()},
                             'earlier': True, 'source': _earlier_source(path, run)}
                 for seed, run in by_seed.items()} for name, by_seed in saved.items()}


def paired_table(variants: Mapping[str, Variant], results: dict[str, dict[int, dict]]) -> str:
  """Markdown rows: mean +- sd over seeds and the seed-paired difference to each
  variant's reference; a variant filled from an earlier collection is marked so."""
  lines = ['| run | what changes | seeds | val nats/char | vs reference (paired) | wall (s) |',
           '|---|---|---:|---:|---:|---:|']
  for name, by_seed in results.items():
    if not by_seed:
      continue
    ces = np.array([r['val_ce'] for r in by_seed.values()])
    spread = f' ± {ces.std(ddof=1):.4f}' if len(ces) > 1 else ''
    reference = variants[name].reference
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
    lines.append(f'| {name}{earlier} | {variants[name].what} | {len(ces)} | '
                 f'{ces.mean():.4f}{spread} | {diff} | {wall} |')
  return '\n'.join(lines)


def plot_curves(variants: Mapping[str, Variant], results: dict[str, dict[int, dict]],
                path: str, *, panels: Sequence[tuple[str, str]],
                levels: Sequence[tuple[float, str, str]] = (), xlabel: str = 'training step',
                title: str = '') -> None:
  """Validation curves to a PNG: a panel per (reference, title) of `panels` with that
  variant and those paired with it, the first seed solid, the others faint;
  horizontal `levels` (value, label, line style) where below the panel's top."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.8), squeeze=False)
  for (reference, panel_title), ax in zip(panels, axes[0]):
    names = [n for n in results if results[n] and (n == reference or
                                                   variants[n].reference == reference)]
    top = max([max(r['curve'].values()) for n in names for r in results[n].values()
               if r['curve']] or [2.1])
    for index, name in enumerate(names):
      for i, (_, r) in enumerate(sorted(results[name].items())):
        steps = sorted(r['curve'])
        ax.plot(steps, [r['curve'][s] for s in steps], marker='o', ms=3,
                label=name if i == 0 else None, color=plt.cm.tab10(index % 10),
                ls='-' if index < 10 else '--',
                lw=2.0 if name == reference else 1.2, alpha=0.9 if i == 0 else 0.35)
    for level, text, style in levels:
      if level < top:  # A panel far below a level leaves it out, to stay readable.
        ax.axhline(level, ls=style, c='gray', lw=1)
        ax.text(ax.get_xlim()[0], level, ' ' + text, va='bottom', fontsize=8, c='gray')
    ax.set_xlabel(xlabel)
    ax.set_ylabel('validation cross-entropy (nats/char)')
    ax.set_title(panel_title, fontsize=10)
    if names:
      ax.legend(fontsize=7, ncol=2)
  fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
