r"""A local-learning baseline: the delta rule over hashed character contexts (no backprop).

  python -m scripts.hashed_context_baseline --local_path=../shared/data/tiny_shakespeare.txt

The model is `landauerjax.hashed_context`: contexts of --orders hashed to
2^--table_bits rows, learned by the delta rule over the train split for --epochs
passes (at each rate of --etas), then frozen and scored on the validation split.
Prints a table row per setting, writes docs/hashed_context_baseline.json. A probe
for issue 14 (the field LM's crystal with more capacity), not a field LM.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from absl import app
from absl import flags
import numpy as np

from experiments import common
from landauerjax import hashed_context
from landauerjax.core import reports
from landauerjax.core import text_files
from landauerjax.core import tokenizers

FLAGS = flags.FLAGS


flags.DEFINE_string('local_path', '../shared/data/tiny_shakespeare.txt',
                    'A UTF-8 text file, split 90/10 as everywhere.')
flags.DEFINE_list('orders', [str(n) for n in range(1, 9)], 'Context orders.')
flags.DEFINE_integer('table_bits', 21, 'log2 of the table rows.')
flags.DEFINE_list('etas', ['0.05', '0.1', '0.3'], 'Delta-rule rates to try.')
flags.DEFINE_integer('epochs', 2, 'Passes over the train split.')
flags.DEFINE_integer('batch_size', 128, 'Positions per update.')
flags.DEFINE_string('output_json', 'docs/hashed_context_baseline.json',
                    "Results as JSON ('' = none).")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  text = text_files.read_text_file(FLAGS.local_path)
  cut = len(text_files.canonical_split(text)['train'])
  vocab = tokenizers.CharVocab.from_texts(text)
  ids = vocab.encode(text).astype(np.int64)
  orders = [int(o) for o in FLAGS.orders]
  results = []
  print('| orders | table rows | eta | epochs | val nats/char | wall (s) |\n'
        '|---|---:|---:|---:|---:|---:|')
  for eta in (float(e) for e in FLAGS.etas):
    t0 = time.perf_counter()
    ce = hashed_context.train_and_score(ids, cut, vocab.size, orders, FLAGS.table_bits, eta,
                                        FLAGS.epochs, FLAGS.batch_size)
    row = {'orders': orders, 'table_bits': FLAGS.table_bits, 'eta': eta,
           'epochs': FLAGS.epochs, 'batch_size': FLAGS.batch_size, 'val_ce': ce,
           'wall_s': time.perf_counter() - t0}
    results.append(row)
    print(f"| {orders[0]}..{orders[-1]} | 2^{FLAGS.table_bits} | {eta:g} | {FLAGS.epochs} | "
          f"{ce:.4f} | {row['wall_s']:.0f} |", flush=True)
  reports.write_json(FLAGS.output_json, {'local_path': FLAGS.local_path, 'rows': results})


if __name__ == '__main__':
  common.run(main)
