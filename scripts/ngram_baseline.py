r"""Interpolated Kneser–Ney character n-gram baseline on the canonical split.

Usage (from the repository root):

  python -m scripts.ngram_baseline \
      --local_path=../shared/data/tiny_shakespeare.txt --data_dir=/tmp/ngram_tfds

For every order in `--orders` it fits `landauerjax.ngram` (the model and its
equations are documented there) on the `train` split (first 90% of the
corpus), measures the cross-entropy of the `validation` split (last 10%) in
nats/char and bits/char, prints a Markdown table and writes it as JSON to
`--output`.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app
from absl import flags

from experiments import common
from landauerjax import ngram
from landauerjax.core import reports
from landauerjax.core import text_sources

_DATASET = flags.DEFINE_string(
    'dataset', 'tiny_shakespeare', "'tiny_shakespeare' or 'local_text'.")
_LOCAL_PATH = flags.DEFINE_string(
    'local_path', '', "Local copy of the corpus ('' downloads Tiny Shakespeare).")
_DATA_DIR = flags.DEFINE_string(
    'data_dir', '', "TFDS data directory ('' uses TFDS's default).")
_ORDERS = flags.DEFINE_list('orders', ['1', '2', '3', '4', '5', '6', '7'],
                            'N-gram orders to evaluate.')
_DISCOUNT = flags.DEFINE_float(
    'discount', None,
    'One absolute discount in [0, 1] for every level; unset estimates '
    'D = n1 / (n1 + 2 n2) per level from the count-of-counts.')
_OUTPUT = flags.DEFINE_string(
    'output', 'docs/ngram_baseline.json', "JSON output path ('' writes none).")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  splits = text_sources.load_text_splits(
      _DATASET.value, local_path=_LOCAL_PATH.value, data_dir=_DATA_DIR.value)
  train, val = splits['train'], splits['validation']
  discount = _DISCOUNT.value
  rows = ngram.evaluate_orders(train, val, [int(o) for o in _ORDERS.value], discount=discount)
  vocab_size = len(set(train) | set(val))
  print(f'Interpolated Kneser–Ney, {_DATASET.value}: train {len(train):,} chars, validation '
        f'{len(val):,} chars, vocabulary {vocab_size}, discount '
        f"{'estimated per level' if discount is None else discount}.")
  print(ngram.markdown_table(rows))
  if not _OUTPUT.value:
    return
  result = {
      'dataset': _DATASET.value,
      'model': 'interpolated Kneser-Ney, character level',
      'discount': (f'per level D = n1/(n1+2 n2), clipped to [{ngram.MIN_ESTIMATED_DISCOUNT}, 1]'
                   if discount is None else discount),
      'boundary': 'validation contexts continue from the end of train',
      'train_chars': len(train), 'validation_chars': len(val), 'vocab_size': vocab_size,
      'results': rows,
  }
  reports.write_json(_OUTPUT.value, result, indent=2)
  print(f'Wrote {_OUTPUT.value}')


if __name__ == '__main__':
  common.run(main)
