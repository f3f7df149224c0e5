r"""An online-compression anchor: PPMd's code length of the validation split, in nats/char.

  pip install pyppmd   # or: pip install -e ".[baselines]"
  python -m scripts.ppm_anchor --local_path=../shared/data/tiny_shakespeare.txt

What the validation split costs PPMd after the train split (`landauerjax.ppm`,
which says why it is an anchor, not a like-for-like baseline). Prints a table of
model orders and writes docs/ppm_anchor.json (--output_json).
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app
from absl import flags

from experiments import common
from landauerjax import ppm
from landauerjax.core import reports
from landauerjax.core import text_files

FLAGS = flags.FLAGS


flags.DEFINE_string('local_path', '../shared/data/tiny_shakespeare.txt',
                    'A UTF-8 text file, split 90/10 as everywhere.')
flags.DEFINE_list('orders', ['2', '3', '4', '6', '8', '12'], 'PPMd model orders.')
flags.DEFINE_integer('memory_mib', 256, 'PPMd model memory (MiB).')
flags.DEFINE_string('output_json', 'docs/ppm_anchor.json', "Results as JSON ('' = none).")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  splits = text_files.canonical_split(text_files.read_text_file(FLAGS.local_path))
  rows = [{'order': int(order),
           'val_nats_per_char': ppm.validation_nats_per_char(
               splits['train'], splits['validation'], int(order), FLAGS.memory_mib << 20)}
          for order in FLAGS.orders]
  print('| PPMd order | validation nats/char (adapting online) |\n|---:|---:|')
  for r in rows:
    print(f"| {r['order']} | {r['val_nats_per_char']:.4f} |")
  reports.write_json(FLAGS.output_json, {'local_path': FLAGS.local_path,
                                         'memory_mib': FLAGS.memory_mib, 'rows': rows})


if __name__ == '__main__':
  common.run(main)
