r"""Trains the causal-transformer baseline on the canonical split and reports val CE.

  python -m scripts.transformer_baseline \
    --local_path=../shared/data/tiny_shakespeare.txt --presets=baby,matched --seeds=0,1,2

Presets (`PRESETS`):
  baby     nanoGPT's CPU Shakespeare-char run (4 layers x 128, 4 heads, 12 x 64
           windows, 2000 steps, AdamW lr 1e-3 with 100 warmup steps and cosine
           decay to 1e-4, beta2 0.99, weight decay 0.1 on matrices, clip 1.0,
           no dropout). nanoGPT's own run of it scored 1.886 here (issue 2).
  matched  The same network trained on landauer_best's data budget: 32 x 128
           windows for 2000 steps, dropout 0.1.

Each run draws its batches like the recurrent models (same windows for the
same seed and step), then scores every validation character once with a
sliding window (context >= block_size / 2). Runs go one after another into
--runs_dir/<preset>/seed<k>/result.json; a finished run is not trained again.
Writes a marked section of --results_md and the raw numbers to --output_json.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common
from landauerjax import input_pipeline
from landauerjax import models
from landauerjax import transformer

PRESETS = {
    'baby': dict(num_layers=4, num_heads=4, model_dim=128, block_size=64, dropout=0.0,
                 batch_size=12),
    'matched': dict(num_layers=4, num_heads=4, model_dim=128, block_size=128, dropout=0.1,
                    batch_size=32),
}

_PRESETS = flags.DEFINE_list('presets', ['baby', 'matched'], f'Any of {sorted(PRESETS)}.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Training seeds.')
_NUM_STEPS = flags.DEFINE_integer('num_steps', 2000, 'Training steps per run.', lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float('learning_rate', 1e-3, 'Peak learning rate.')
_WARMUP = flags.DEFINE_integer('warmup_steps', 100, 'Linear warm-up steps.', lower_bound=0)
_DATASET = flags.DEFINE_enum('dataset', 'tiny_shakespeare', ['tiny_shakespeare', 'local_text'],
                             "TFDS builder; 'local_text' trains on --local_path.")
_LOCAL_PATH = flags.DEFINE_string('local_path', '', 'Offline copy of the corpus.')
_DATA_DIR = flags.DEFINE_string('data_dir', '', 'TFDS data dir.')
_ONLY_FINISHED = flags.DEFINE_bool(
    'only_finished', False, 'Train nothing: summarize the runs already in --runs_dir '
    '(each preset lists how many seeds it has).')
_RUNS_DIR = flags.DEFINE_string('runs_dir', '/tmp/transformer_baseline', 'Where runs go.')
_RESULTS_MD = flags.DEFINE_string('results_md', 'docs/RESULTS.md',
                                  "Markdown file whose marked section is replaced ('' = none).")
_OUTPUT_JSON = flags.DEFINE_string('output_json', 'docs/transformer_baseline.json',
                                   "Raw results ('' = none).")


def make_optimizer(learning_rate: float, num_steps: int, warmup_steps: int
                   ) -> optax.GradientTransformation:
  """nanoGPT's: clip 1.0, AdamW(b2=0.99), cosine to lr/10, decay on matrices only."""
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, learning_rate, warmup_steps, max(num_steps, warmup_steps + 1),
      end_value=learning_rate / 10)
  decay_mask = lambda params: jax.tree_util.tree_map(lambda p: p.ndim >= 2, params)
  return optax.chain(
      optax.clip_by_global_norm(1.0),
      optax.adamw(schedule, b1=0.9, b2=0.99, weight_decay=0.1, mask=decay_mask))


def run(preset: str, seed: int, train_N: np.ndarray, validation_N: np.ndarray,
        vocab_size: int) -> dict[str, Any]:
  """Trains one preset/seed and evaluates it on the whole validation split."""
  settings = dict(PRESETS[preset])
  batch_size = settings.pop('batch_size')
  config = transformer.TransformerConfig(vocab_size=vocab_size, **settings)
  model = transformer.Transformer(config)
  optimizer = make_optimizer(_LEARNING_RATE.value, _NUM_STEPS.value, _WARMUP.value)
  params = transformer.init_params(config, jax.random.PRNGKey(seed))
  opt_state = optimizer.init(params)
  step_fn = jax.jit(lambda p, o, s, t: transformer.train_step(
      p, o, s, t, model=model, optimizer=optimizer, seed=seed, batch_size=batch_size))
  tokens = jnp.asarray(train_N)
  t0 = time.perf_counter()
  curve = []
  for step in range(_NUM_STEPS.value):
    params, opt_state, loss = step_fn(params, opt_state, jnp.asarray(step), tokens)
    if (step + 1) % 250 == 0:
      loss = float(loss)
      if not math.isfinite(loss):
        raise FloatingPointError(f'{preset} seed {seed}: non-finite loss at step {step + 1}.')
      curve.append((step + 1, loss))
      logging.info('%s seed %d step %d: train loss %.4f (%.0f s)', preset, seed, step + 1,
                   loss, time.perf_counter() - t0)
  jax.block_until_ready(params)
  train_s = time.perf_counter() - t0
  val = transformer.sliding_window_ce(params, model, validation_N)
  return {'preset': preset, 'seed': seed, 'config': vars(config) | {'batch_size': batch_size},
          'params': models.count_params(params), 'num_steps': _NUM_STEPS.value,
          'val_ce': val['ce'], 'val_bpc': val['bpc'], 'chars': val['chars'],
          'train_s': train_s, 'ms_per_step': 1e3 * train_s / _NUM_STEPS.value,
          'train_curve': curve}


def markdown(rows: list[dict[str, Any]], command: str) -> str:
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


def main(argv: Sequence[str]) -> None:
  del argv
  common.quiet_libraries()
  unknown = sorted(set(_PRESETS.value) - set(PRESETS))
  if unknown:
    raise app.UsageError(f'Unknown presets {unknown}; known: {sorted(PRESETS)}.')
  data = ml_collections.ConfigDict({'dataset': _DATASET.value,
                                    'local_path': _LOCAL_PATH.value,
                                    'data_dir': _DATA_DIR.value})
  corpus = input_pipeline.load_corpus(data)
  runs = []
  for preset in _PRESETS.value:
    for seed in map(int, _SEEDS.value):
      path = os.path.join(_RUNS_DIR.value, preset, f'seed{seed}', 'result.json')
      if os.path.exists(path):
        cached = json.load(open(path))
        if cached['num_steps'] != _NUM_STEPS.value:  # Never mix runs of other lengths.
          raise app.UsageError(f"{path} trained {cached['num_steps']} steps, not "
                               f'--num_steps={_NUM_STEPS.value}: use another --runs_dir.')
        runs.append(cached)
        continue
      if _ONLY_FINISHED.value:
        logging.warning('No finished run %s; left out.', path)
        continue
      result = run(preset, seed, corpus.train, corpus.validation, corpus.vocab.size)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      json.dump(result, open(path, 'w'), indent=1)
      print(f"{preset} seed {seed}: val_ce {result['val_ce']:.4f} "
            f"({result['train_s']:.0f} s training)", flush=True)
      runs.append(result)
  rows = []
  for preset in _PRESETS.value:
    rs = [r for r in runs if r['preset'] == preset]
    if not rs:
      continue
    ce = np.array([r['val_ce'] for r in rs])
    rows.append({'preset': preset, 'params': rs[0]['params'], 'seeds': len(rs),
                 'batch_size': rs[0]['config']['batch_size'],
                 'block_size': rs[0]['config']['block_size'],
                 'val_ce_mean': float(ce.mean()),
                 'val_ce_std': float(ce.std(ddof=1)) if len(rs) > 1 else 0.0,
                 'val_ce_min': float(ce.min()), 'val_ce_max': float(ce.max()),
                 'train_s_mean': float(np.mean([r['train_s'] for r in rs]))})
  command = ('python -m scripts.transformer_baseline --local_path=' + _LOCAL_PATH.value +
             ' --presets=' + ','.join(_PRESETS.value) + ' --seeds=' + ','.join(_SEEDS.value))
  if _ONLY_FINISHED.value:
    command += ' --only_finished'
  if not rows:
    raise app.UsageError(f'No finished runs in {_RUNS_DIR.value}.')
  if _NUM_STEPS.value != 2000:
    command += f' --num_steps={_NUM_STEPS.value}'
  section = markdown(rows, command)
  print(section)
  if _RESULTS_MD.value:
    common.write_marked_section(_RESULTS_MD.value, 'transformer_baseline', section,
                                '# Results')
  if _OUTPUT_JSON.value:
    json.dump({'runs': runs, 'summary': rows}, open(_OUTPUT_JSON.value, 'w'), indent=1)


if __name__ == '__main__':
  common.run(main)
