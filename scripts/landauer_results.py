r"""Trains each Landauer config for several seeds and writes docs/RESULTS.md tables.

  python -m scripts.landauer_results \
    --local_path=../shared/data/tiny_shakespeare.txt --seeds=0,1,2

Runs go one after another (so wall times are comparable) into
--runs_dir/<config>/seed<k>; a finished run is not trained again. Writes the
table between markers in docs/RESULTS.md, raw numbers to
docs/results_landauer.json and the learning curves to docs/learning_curves.png.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time

from absl import flags
from absl import logging
import jax
import numpy as np

from experiments import common
from landauerjax import checkpoints
from landauerjax import input_pipeline
from landauerjax import models
from landauerjax import train

FLAGS = flags.FLAGS
flags.DEFINE_list('configs', ['landauer_original', 'landauer_lstm', 'landauer_gru',
                              'landauer_best'], 'Config modules in experiments/configs.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Training seeds.')
flags.DEFINE_integer('num_steps', 2000, 'Training steps per run.')
flags.DEFINE_integer('eval_every', 250, 'Validation interval (for the curves).')
flags.DEFINE_string('local_path', '', 'Offline copy of Tiny Shakespeare.')
flags.DEFINE_string('data_dir', '', 'TFDS data dir.')
flags.DEFINE_string('runs_dir', '/tmp/landauer_results', 'Where the runs go.')
flags.DEFINE_string('results_md', 'docs/RESULTS.md', 'Markdown file to update.')
flags.DEFINE_string('results_json', 'docs/results_landauer.json', 'Raw results.')
flags.DEFINE_string('plot', 'docs/learning_curves.png', 'Learning-curve PNG.')
flags.DEFINE_string('ngram_json', 'docs/ngram_baseline.json',
                    'Output of scripts.ngram_baseline, for the n-gram rows.')



def run_config(name: str, seed: int) -> dict:
  config = importlib.import_module(f'experiments.configs.{name}').get_config()
  config.seed = seed
  config.train.num_steps = FLAGS.num_steps
  config.eval.every = FLAGS.eval_every
  config.checkpoint.every = FLAGS.num_steps
  config.data.local_path = FLAGS.local_path
  config.data.data_dir = FLAGS.data_dir
  workdir = os.path.join(FLAGS.runs_dir, name, f'seed{seed}')
  timing_path = os.path.join(workdir, 'wall_time.json')  # Written once a run finishes.
  if os.path.exists(timing_path):
    wall = json.load(open(timing_path))['wall_s']
  else:
    t0 = time.perf_counter()
    train.train_and_evaluate(config, workdir)  # Resumes an unfinished run.
    wall = time.perf_counter() - t0
    json.dump({'wall_s': wall}, open(timing_path, 'w'))
  lines = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  evals = [l for l in lines if 'val_ce' in l]
  trains = [l for l in lines if 'train_loss' in l]
  # The other two protocols, for comparison with the original's numbers.
  loaded = checkpoints.load_for_inference(workdir)
  corpus = input_pipeline.load_corpus(config.data, vocab=loaded.vocab)
  model = models.LandauerLM(loaded.model_config)
  reset64 = train.evaluate(loaded.params, model, corpus.validation, num_streams=256,
                           window=64, carry_state=False)['ce']
  one_batch = train.one_batch_loss(loaded.params, model, corpus.validation,
                                   jax.random.PRNGKey(seed))['loss']
  return {
      'config': name, 'seed': seed, 'variant': config.model.variant,
      'params': models.count_params(loaded.params), 'val_ce': evals[-1]['val_ce'],
      'val_ce_reset64': reset64, 'one_batch_loss': one_batch, 'wall_s': wall,
      'train_chars_per_sec': float(np.median([l['chars_per_sec'] for l in trains[1:]]))
      if len(trains) > 1 else float('nan'),
      'curve': [(l['step'], l['val_ce']) for l in evals],
      'train_curve': [(l['step'], l['train_ce']) for l in trains],
  }


def summarize(runs: list[dict]) -> list[dict]:
  rows = []
  for name in FLAGS.configs:
    rs = [r for r in runs if r['config'] == name]
    ce = np.array([r['val_ce'] for r in rs])
    rows.append({
        'config': name, 'variant': rs[0]['variant'], 'params': rs[0]['params'],
        'seeds': len(rs), 'val_ce_mean': ce.mean(), 'val_ce_std': ce.std(ddof=1) if len(rs) > 1 else 0.0,
        'val_ce_min': ce.min(), 'val_ce_max': ce.max(),
        'reset64_mean': np.mean([r['val_ce_reset64'] for r in rs]),
        'one_batch_mean': np.mean([r['one_batch_loss'] for r in rs]),
        'wall_s_mean': np.mean([r['wall_s'] for r in rs]),
        'chars_per_sec': np.mean([r['train_chars_per_sec'] for r in rs]),
    })
  return rows


def markdown(rows: list[dict], ngram: list[dict], command: str) -> str:
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


def plot(runs: list[dict], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
  for i, name in enumerate(FLAGS.configs):
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


def main(argv):
  del argv
  common.quiet_libraries()
  runs = []
  for name in FLAGS.configs:
    for seed in map(int, FLAGS.seeds):
      logging.info('=== %s seed %d ===', name, seed)
      runs.append(run_config(name, seed))
  rows = summarize(runs)
  ngram = []
  if os.path.exists(FLAGS.ngram_json):
    ngram = [g for g in json.load(open(FLAGS.ngram_json))['results']
             if g['order'] in (1, 2, 3, 5, 6, 7)]
  command = ('python -m scripts.landauer_results --local_path=' + FLAGS.local_path +
             ' --configs=' + ','.join(FLAGS.configs) + ' --seeds=' + ','.join(FLAGS.seeds))
  table = markdown(rows, ngram, command)
  print(table)
  common.write_marked_section(FLAGS.results_md, 'landauer_results', table, '# Results')
  json.dump({'runs': runs, 'summary': rows}, open(FLAGS.results_json, 'w'), indent=1,
            default=float)
  plot(runs, FLAGS.plot)


if __name__ == '__main__':
  common.run(main)
