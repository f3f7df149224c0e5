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

Each run (`landauerjax.transformer.train_and_evaluate`) draws the recurrent
models' batches, then scores every validation character once with a sliding
window. Runs go one after another into --runs_dir/<preset>/seed<k>/result.json;
a finished run is not trained again. Writes a marked section of --results_md and
the raw numbers to --output_json.
"""

from __future__ import annotations

import functools
import os
from typing import Sequence

from absl import app
from absl import flags
import ml_collections

from experiments import common
from landauerjax import input_pipeline
from landauerjax import results
from landauerjax import transformer
from landauerjax.core import reports

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


def train(preset: str, seed: int, corpus: input_pipeline.CharCorpus) -> dict:
  """Trains and evaluates one preset and seed: its record."""
  settings = dict(PRESETS[preset])
  batch_size = settings.pop('batch_size')
  config = transformer.TransformerConfig(vocab_size=corpus.vocab.size, **settings)
  run = {'preset': preset, 'seed': seed, 'config': vars(config) | {'batch_size': batch_size},
         **transformer.train_and_evaluate(
             config, corpus.train, corpus.validation, seed=seed, batch_size=batch_size,
             num_steps=_NUM_STEPS.value, learning_rate=_LEARNING_RATE.value,
             warmup_steps=_WARMUP.value, name=preset)}
  print(f"{preset} seed {seed}: val_ce {run['val_ce']:.4f} ({run['train_s']:.0f} s training)",
        flush=True)
  return run


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
      train_fn = None if _ONLY_FINISHED.value else functools.partial(train, preset, seed, corpus)
      if (run := results.cached_run(path, _NUM_STEPS.value, train_fn)) is not None:
        runs.append(run)
  rows = results.transformer_summary(runs, _PRESETS.value)
  command = ('python -m scripts.transformer_baseline --local_path=' + _LOCAL_PATH.value +
             ' --presets=' + ','.join(_PRESETS.value) + ' --seeds=' + ','.join(_SEEDS.value))
  if _ONLY_FINISHED.value:
    command += ' --only_finished'
  if not rows:
    raise app.UsageError(f'No finished runs in {_RUNS_DIR.value}.')
  if _NUM_STEPS.value != 2000:
    command += f' --num_steps={_NUM_STEPS.value}'
  section = results.transformer_markdown(rows, command)
  print(section)
  if _RESULTS_MD.value:
    reports.write_marked_section(_RESULTS_MD.value, 'transformer_baseline', section,
                                 '# Results')
  reports.write_json(_OUTPUT_JSON.value, {'runs': runs, 'summary': rows})


if __name__ == '__main__':
  common.run(main)
