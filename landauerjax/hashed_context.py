"""A local-learning baseline: the delta rule over hashed character contexts (no backprop).

Each position's features are its preceding contexts of orders 1..8 (the last n
characters), each hashed to one of 2^table_bits rows of a table W [rows, V].
The prediction is softmax(sum of the rows of its contexts); after each batch
every active row moves by eta * (onehot(target) - p), the delta rule
(Widrow-Hoff): a single-layer, local update, no gradient through any hidden
layer. In effect a log-linear n-gram model learned online, like the mixing
stage of PAQ-style compressors; hash collisions are left to the rule.
`train_and_score` trains in order over the train split for some passes, then
freezes the table and scores the validation split (conditioned on the end of
train, as the KN baseline is). Deterministic: no random numbers anywhere.
`scripts/hashed_context_baseline.py` is its command line.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

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
