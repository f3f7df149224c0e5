"""landauerjax.hashed_context: hashed contexts and the delta rule over them."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from landauerjax import hashed_context as hashed


def test_a_row_depends_on_exactly_the_last_n_ids():
  ids = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 1, 4, 1, 5], np.int64)
  rows = hashed.context_rows(ids, [1, 2, 3], table_bits=20)
  # Positions 4 and 13 both follow 1, 4, 1: the same contexts of orders 1-3.
  np.testing.assert_array_equal(rows[4], rows[13])
  # Positions 2 and 4 share the last id (1) but not the last two (3 1 vs 4 1).
  assert rows[2, 0] == rows[4, 0] and rows[2, 1] != rows[4, 1]
  assert rows.min() >= 0 and rows.max() < 2**20
  assert len(set(rows[:, 2].tolist())) > 0.8 * len(ids)  # Distinct contexts, distinct rows.


def test_the_delta_rule_learns_a_repeated_sequence_and_is_deterministic():
  ids = np.tile(np.arange(7, dtype=np.int64), 60)
  cut = 7 * 50
  ce = hashed.train_and_score(ids, cut, 7, [1, 2], table_bits=12, eta=0.5, epochs=1,
                              batch_size=7)
  assert ce < 0.1 * math.log(7)  # Next id is a function of the last one.
  assert ce == hashed.train_and_score(ids, cut, 7, [1, 2], 12, 0.5, 1, 7)


def test_one_step_moves_only_the_active_rows_towards_the_target():
  table = jnp.zeros((16, 3), jnp.float32)
  rows = jnp.array([[2, 5]])
  updated = np.asarray(hashed.delta_step(table, rows, jnp.array([1]), 0.3))
  np.testing.assert_allclose(updated[2], 0.3 * (np.eye(3)[1] - 1 / 3), rtol=1e-6)
  np.testing.assert_allclose(updated[5], updated[2])
  assert not updated[[0, 1, 3, 4] + list(range(6, 16))].any()
