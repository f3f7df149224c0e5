"""Results over seeds for docs/RESULTS.md: the Landauer configs and the transformer baseline.

`train_run` trains one config for one seed into its workdir (resuming an
unfinished run; a finished one is only read) and returns its record: validation
CE over the whole split with carried state, the two numbers of the original's
protocols (`evaluation.other_protocols`), wall time, training speed and the learning
curves. `summarize` gives the mean, spread and range over seeds of each config,
`markdown` the table (with Kneser-Ney rows beside), `plot` the learning curves
(`scripts/landauer_results.py`). `cached_run`, `transformer_summary` and
`transformer_markdown` do the same for the runs of `scripts/transformer_baseline.py`.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from absl import logging
import numpy as np

from landauerjax import evaluation
from landauerjax import checkpoints
from landauerjax import input_pipeline
from landauerjax import models
from landauerjax import train
from landauerjax.core import errors
from landauerjax.core import metrics as core_metrics
from landauerjax.core import reports

WALL_TIME_FILE = 'wall_time.json'  # Written once a run finishes.


def train_run(name: str, config: Any, workdir: str) -> dict[str, Any]:
  """Trains experiment config `config` (named `name`) in `workdir` unless it finished
  there, then reads and evaluates it: the run's record."""
  timing_path = os.path.join(workdir, WALL_TIME_FILE)
  if os.path.exists(timing_path):
    with open(timing_path) as f:
      wall = json.load(f)['wall_s']
  else:
    t0 = time.perf_counter()
    train.train_and_evaluate(config, workdir)  # Resumes an unfinished run.
    wall = time.perf_counter() - t0
    reports.write_json(timing_path, {'wall_s': wall})
  lines = core_metrics.read_metrics(core_metrics.metrics_path(workdir))
  evals = [l for l in lines if 'val_ce' in l]
  trains = [l for l in lines if 'train_loss' in l]
  # The other two protocols, for comparison with the original's numbers.
  loaded = checkpoints.load_for_inference(workdir)
  corpus = input_pipeline.load_corpus(config.data, vocab=loaded.vocab)
  model = models.LandauerLM(loaded.model_config)
  other = evaluation.other_protocols(loaded.params, model, corpus.validation, num_streams=256,
                                window=64, seed=config.seed)
  return {
      'config': name, 'seed': config.seed, 'variant': config.model.variant,
      'params': models.count_params(loaded.params), 'val_ce': evals[-1]['val_ce'],
      'val_ce_reset64': other['val_ce_reset'], 'one_batch_loss': other['one_batch_loss'],
      'wall_s': wall,
      'train_chars_per_sec': float(np.median([l['chars_per_sec'] for l in trains[1:]]))
      if len(trains) > 1 else float('nan'),
      'curve': [(l['step'], l['val_ce']) for l in evals],
      'train_curve': [(l['step'], l['train_ce']) for l in trains],
  }


def summarize(runs: list[dict], names: Sequence[str]) -> list[dict]:
  """A row per config of `names`: mean, sd, min and max over seeds, and the means of the
  rest."""
  rows = []
  for name in names:
    rs = [r for r in runs if r['config'] == name]
    ce = reports.seed_stats([r['val_ce'] for r in rs])
    rows.append({
        'config': name, 'variant': rs[0]['variant'], 'params': rs[0]['params'],
        'seeds': len(rs), **{f'val_ce_{k}': ce[k] for k in ('mean', 'std', 'min', 'max')},
        'reset64_mean': np.mean([r['val_ce_reset64'] for r in rs]),
        'one_batch_mean': np.mean([r['one_batch_loss'] for r in rs]),
        'wall_s_mean': np.mean([r['wall_s'] for r in rs]),
        'chars_per_sec': np.mean([r['train_chars_per_sec'] for r in rs]),
    })
  return rows


def markdown(rows: list[dict], ngram: list[dict], command: str) -> str:
  """The table of `summarize` rows, then the n-gram rows (`scripts.ngram_baseline`'s)."""
  out = ['', f'Produced by `{command}`. Wall time per run includes compilation and the '
         'evaluations, on this 2-core CPU; see the notes below for the machine\'s load.', '',
         '| model | config | params | val CE nats/char (mean ± sd) | min–max | bits/char | '
         'CE, zero state per 64 chars | original one-batch loss | wall s / run | train chars/s |',
         '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|']
  for r in rows:
    out.append(
        f"| {r['variant']} | `{r['config']}` | {r['params']:,} | "
        f"{r['val_ce_mean']:.4f} ± {r['val_ce_std']:.4f} (n={r['seeds']}) | "
        f"{r['val_ce_min']:.4f}–{r['val_ce_max']:.4f} | {r['val_ce_mean'] / math.log(2):.4f} | "
        f"{r['reset64_mean']:.4f} | {r['one_batch_mean']:.4f} | {r['wall_s_mean']:.0f} | "
        f"{r['chars_per_sec']:,.0f} |")
  for g in ngram:
    out.append(f"| {g['order']}-gram KN ({g['num_contexts']:,} contexts) | `scripts.ngram_baseline` | – | "
               f"{g['nats_per_char']:.4f} | – | {g['bits_per_char']:.4f} | – | – | – | – |")
  return '\n'.join(out)


def plot(runs: list[dict], names: Sequence[str], path: str) -> None:
  """Validation (left) and training (right) curves of every run of `names`."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
  for i, name in enumerate(names):
    # Colour and line style both vary: configs whose curves coincide (seed in
    # float32 and bfloat16) stay visible.
    color, style = f'C{i}', ('-', '--', ':', '-.')[i % 4]
    for j, r in enumerate(r for r in runs if r['config'] == name):
      label = f"{name} ({r['variant']})" if j == 0 else None
      steps, ce = zip(*r['curve'])
      axes[0].plot(steps, ce, marker='o', ls=style, color=color, alpha=0.7, label=label, ms=3)
      steps, ce = zip(*r['train_curve'])
      axes[1].plot(steps, ce, ls=style, color=color, alpha=0.5, label=label)
  for ax, title in zip(axes, ['validation CE, whole split, carried state',
                              'training CE (batch of the step)']):
    ax.set_xlabel('step')
    ax.set_ylabel('nats/char')
    ax.set_title(title)
    ax.grid(alpha=0.3)
  axes[0].axhline(1.558, color='gray', ls='--', lw=1, label='6-gram KN (1.558)')
  axes[0].legend(fontsize=8)
  axes[0].set_ylim(top=2.6)
  axes[1].set_ylim(1.0, 3.0)
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def cached_run(path: str, num_steps: int, train_fn: Callable[[], dict] | None) -> dict | None:
  """The run recorded at `path` (JSON with 'num_steps') if it finished there; else
  `train_fn()`'s record, written there; else (no `train_fn`) None, with a warning.

  Raises:
    errors.ConfigError: the recorded run trained another number of steps (runs of
      other lengths are never mixed).
  """
  if os.path.exists(path):
    with open(path) as f:
      cached = json.load(f)
    if cached['num_steps'] != num_steps:
      raise errors.ConfigError(f"{path} trained {cached['num_steps']} steps, not "
                               f'--num_steps={num_steps}: use another --runs_dir.')
    return cached
  if train_fn is None:
    logging.warning('No finished run %s; left out.', path)
    return None
  run = train_fn()
  reports.write_json(path, run)
  return run


def transformer_summary(runs: list[dict], presets: Sequence[str]) -> list[dict]:
  """A row per preset of `scripts/transformer_baseline.py` with runs: their CE over seeds."""
  rows = []
  for preset in presets:
    rs = [r for r in runs if r['preset'] == preset]
    if not rs:
      continue
    ce = reports.seed_stats([r['val_ce'] for r in rs])
    rows.append({'preset': preset, 'params': rs[0]['params'], 'seeds': len(rs),
                 'batch_size': rs[0]['config']['batch_size'],
                 'block_size': rs[0]['config']['block_size'],
                 **{f'val_ce_{k}': ce[k] for k in ('mean', 'std', 'min', 'max')},
                 'train_s_mean': float(np.mean([r['train_s'] for r in rs]))})
  return rows


def transformer_markdown(rows: list[dict[str, Any]], command: str) -> str:
  """The table of `transformer_summary` rows."""
  out = ['', f'Produced by `{command}`: validation CE over the whole split, every '
         'character scored once with a sliding window (context >= block_size / 2).', '',
         '| preset | params | batch × block | val CE nats/char (mean ± sd) | min–max | '
         'bits/char | train s / run |', '|---|---:|---:|---:|---:|---:|---:|']
  for r in rows:
    out.append(f"| `{r['preset']}` | {r['params']:,} | {r['batch_size']} × {r['block_size']} | "
               f"{r['val_ce_mean']:.4f} ± {r['val_ce_std']:.4f} (n={r['seeds']}) | "
               f"{r['val_ce_min']:.4f}–{r['val_ce_max']:.4f} | "
               f"{r['val_ce_mean'] / math.log(2):.4f} | {r['train_s_mean']:.0f} |")
  return '\n'.join(out)
