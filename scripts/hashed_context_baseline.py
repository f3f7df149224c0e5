r"""A local-learning baseline: the delta rule over hashed character contexts (no backprop).

  python -m scripts.hashed_context_baseline --local_path=../shared/data/tiny_shakespeare.txt

Each position's features are its preceding contexts of orders 1..8 (the last n
characters), each hashed to one of 2^table_bits rows of a table W [rows, V].
The prediction is softmax(sum of the rows of its contexts); after each batch
every active row moves by eta * (onehot(target) - p), the delta rule
(Widrow-Hoff): a single-layer, local update, no gradient through any hidden
layer. In effect a log-linear n-gram model learned online, like the mixing
stage of PAQ-style compressors; hash collisions are left to the rule. Trained
in order over the train split for --epochs passes, then frozen and scored on
the whole validation split (conditioned on the end of train, as the KN
baseline is). Deterministic: no random numbers anywhere.

Prints one table row per setting and writes docs/hashed_context_baseline.json.
A probe for issue 14 (the field LM's crystal with more capacity), not a field LM.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import common
from landauerjax.core import text_files
from landauerjax.core import tokenizers

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This script's flags; defined only when it runs, so that tests can import it."""
  flags.DEFINE_string('local_path', '../shared/data/tiny_shakespeare.txt',
                      'A UTF-8 text file, split 90/10 as everywhere.')
  flags.DEFINE_list('orders', [str(n) for n in range(1, 9)], 'Context orders.')
  flags.DEFINE_integer('table_bits', 21, 'log2 of the table rows.')
  flags.DEFINE_list('etas', ['0.05', '0.1', '0.3'], 'Delta-rule rates to try.')
  flags.DEFINE_integer('epochs', 2, 'Passes over the train split.')
  flags.DEFINE_integer('batch_size', 128, 'Positions per update.')
  flags.DEFINE_string('output_json', 'docs/hashed_context_baseline.json',
                      "Results as JSON ('' = none).")


_MASK61 = (1 << 61) - 1


def context_rows(ids_N: np.ndarray, orders: Sequence[int], table_bits: int) -> np.ndarray:
  """int64 [N, O]: row of the context of order n (ids[t-n .. t-1]) of each position t.

  Positions before the start see id -1. Pure NumPy (a 61-bit FNV-style hash of
  the order and the ids, then the high bits folded in).
  """
  n = len(ids_N)
  rows = np.zeros((n, len(orders)), np.int64)
  for j, order in enumerate(orders):
    h = np.full(n, (order + 1) * 1_000_003, np.int64)
    for k in range(1, order + 1):
      previous = np.concatenate([np.full(min(k, n), -1), ids_N[:max(0, n - k)]])
      h = (h * 1_099_511_628_211 + previous + 7) & _MASK61
    rows[:, j] = (h ^ (h >> 29)) & ((1 << table_bits) - 1)
  return rows


@functools.partial(jax.jit, donate_argnums=0)
def delta_step(table_RxV: jax.Array, rows_BxO: jax.Array, targets_B: jax.Array,
               eta: float) -> jax.Array:
  """One delta-rule update of the active rows: W[r] += eta (onehot(y) - softmax(sum W[r]))."""
  p_BxV = jax.nn.softmax(table_RxV[rows_BxO].sum(1))
  error_BxV = jax.nn.one_hot(targets_B, table_RxV.shape[1]) - p_BxV
  return table_RxV.at[rows_BxO.reshape(-1)].add(
      eta * jnp.repeat(error_BxV, rows_BxO.shape[1], axis=0))


@jax.jit
def _nll_sum(table_RxV: jax.Array, rows_BxO: jax.Array, targets_B: jax.Array) -> jax.Array:
  logp_BxV = jax.nn.log_softmax(table_RxV[rows_BxO].sum(1))
  return -jnp.sum(jnp.take_along_axis(logp_BxV, targets_B[:, None], axis=1))


def train_and_score(ids_N: np.ndarray, cut: int, vocab_size: int, orders: Sequence[int],
                    table_bits: int, eta: float, epochs: int, batch_size: int) -> float:
  """Validation nats/char of the table trained on ids[:cut], scored on ids[cut:]."""
  rows = context_rows(ids_N, orders, table_bits)
  table = jnp.zeros((1 << table_bits, vocab_size), jnp.float32)
  for _ in range(epochs):
    for s in range(0, cut - batch_size + 1, batch_size):
      table = delta_step(table, rows[s:s + batch_size], ids_N[s:s + batch_size], eta)
  total = sum(float(_nll_sum(table, rows[s:s + 4096], ids_N[s:s + 4096]))
              for s in range(cut, len(ids_N), 4096))
  return total / (len(ids_N) - cut)


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
    ce = train_and_score(ids, cut, vocab.size, orders, FLAGS.table_bits, eta,
                         FLAGS.epochs, FLAGS.batch_size)
    row = {'orders': orders, 'table_bits': FLAGS.table_bits, 'eta': eta,
           'epochs': FLAGS.epochs, 'batch_size': FLAGS.batch_size, 'val_ce': ce,
           'wall_s': time.perf_counter() - t0}
    results.append(row)
    print(f"| {orders[0]}..{orders[-1]} | 2^{FLAGS.table_bits} | {eta:g} | {FLAGS.epochs} | "
          f"{ce:.4f} | {row['wall_s']:.0f} |", flush=True)
  if FLAGS.output_json:
    with open(FLAGS.output_json, 'w') as f:
      json.dump({'local_path': FLAGS.local_path, 'rows': results}, f, indent=1)


if __name__ == '__main__':
  define_flags()
  common.run(main)
