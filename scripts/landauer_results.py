r"""Trains each Landauer config for several seeds and writes docs/RESULTS.md tables.

  python -m scripts.landauer_results \
    --local_path=../shared/data/tiny_shakespeare.txt --seeds=0,1,2

Runs go one after another (so wall times are comparable) into
--runs_dir/<config>/seed<k>; a finished run is not trained again
(`landauerjax.results` has what each run records). Writes the
table between markers in docs/RESULTS.md, raw numbers to
docs/results_landauer.json and the learning curves to docs/learning_curves.png.
"""

from __future__ import annotations

import importlib
import json
import os

from absl import flags
from absl import logging

from experiments import common
from landauerjax import results
from landauerjax.core import reports

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


def main(argv):
  del argv
  common.quiet_libraries()
  runs = []
  for name in FLAGS.configs:
    for seed in map(int, FLAGS.seeds):
      logging.info('=== %s seed %d ===', name, seed)
      config = importlib.import_module(f'experiments.configs.{name}').get_config()
      config.seed = seed
      config.train.num_steps = FLAGS.num_steps
      config.eval.every = FLAGS.eval_every
      config.checkpoint.every = FLAGS.num_steps
      config.data.local_path = FLAGS.local_path
      config.data.data_dir = FLAGS.data_dir
      runs.append(results.train_run(name, config,
                                    os.path.join(FLAGS.runs_dir, name, f'seed{seed}')))
  rows = results.summarize(runs, FLAGS.configs)
  ngram = []
  if os.path.exists(FLAGS.ngram_json):
    ngram = [g for g in json.load(open(FLAGS.ngram_json))['results']
             if g['order'] in (1, 2, 3, 5, 6, 7)]
  command = ('python -m scripts.landauer_results --local_path=' + FLAGS.local_path +
             ' --configs=' + ','.join(FLAGS.configs) + ' --seeds=' + ','.join(FLAGS.seeds))
  table = results.markdown(rows, ngram, command)
  print(table)
  reports.write_marked_section(FLAGS.results_md, 'landauer_results', table, '# Results')
  reports.write_json(FLAGS.results_json, {'runs': runs, 'summary': rows}, default=float)
  results.plot(runs, FLAGS.configs, FLAGS.plot)


if __name__ == '__main__':
  common.run(main)
