r"""An online-compression anchor: PPMd's code length of the validation split, in nats/char.

  pip install pyppmd   # or: pip install -e ".[baselines]"
  python -m scripts.ppm_anchor --local_path=../shared/data/tiny_shakespeare.txt

PPMd (variant H, `pyppmd`, the compressor of 7-Zip's PPMd method) compresses
train and train + validation; the difference of the two code lengths is what
the validation split costs after the train split, in nats per validation
character. PPMd keeps adapting on the validation text as it codes it, which our
models (frozen after training) do not: an anchor for what an online
context-mixing learner reaches, not a like-for-like baseline. Byte-level, so
nats/char only for single-byte text (checked).

Prints a table of model orders and writes docs/ppm_anchor.json (--output_json).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from absl import app
from absl import flags

from experiments import common
from landauerjax.core import errors
from landauerjax.core import text_files

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This script's flags; defined only when it runs, so that tests can import it."""
  flags.DEFINE_string('local_path', '../shared/data/tiny_shakespeare.txt',
                      'A UTF-8 text file, split 90/10 as everywhere.')
  flags.DEFINE_list('orders', ['2', '3', '4', '6', '8', '12'], 'PPMd model orders.')
  flags.DEFINE_integer('memory_mib', 256, 'PPMd model memory (MiB).')
  flags.DEFINE_string('output_json', 'docs/ppm_anchor.json',
                      "Results as JSON ('' = none).")


def validation_nats_per_char(train: str, validation: str, order: int,
                             memory_bytes: int) -> float:
  """(|PPMd(train + validation)| - |PPMd(train)|) in nats, per validation character."""
  import pyppmd  # pylint: disable=g-import-not-at-top  # Optional: pip install pyppmd.
  train_bytes, validation_bytes = train.encode('utf-8'), validation.encode('utf-8')
  if len(train_bytes) != len(train) or len(validation_bytes) != len(validation):
    raise errors.DataError('PPMd codes bytes: this corpus has multi-byte characters, so '
                           'bytes are not characters; use an ASCII corpus.')
  coded = lambda data: len(pyppmd.compress(data, max_order=order, mem_size=memory_bytes))
  extra_bytes = coded(train_bytes + validation_bytes) - coded(train_bytes)
  return extra_bytes * 8 * math.log(2) / len(validation)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  splits = text_files.canonical_split(text_files.read_text_file(FLAGS.local_path))
  rows = [{'order': int(order),
           'val_nats_per_char': validation_nats_per_char(
               splits['train'], splits['validation'], int(order), FLAGS.memory_mib << 20)}
          for order in FLAGS.orders]
  print('| PPMd order | validation nats/char (adapting online) |\n|---:|---:|')
  for r in rows:
    print(f"| {r['order']} | {r['val_nats_per_char']:.4f} |")
  if FLAGS.output_json:
    with open(FLAGS.output_json, 'w') as f:
      json.dump({'local_path': FLAGS.local_path, 'memory_mib': FLAGS.memory_mib,
                 'rows': rows}, f, indent=1)


if __name__ == '__main__':
  define_flags()
  common.run(main)
