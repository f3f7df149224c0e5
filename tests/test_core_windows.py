"""Tests of landauerjax.core.windows: training windows, batch keys, evaluation windows."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from landauerjax.core import windows as windows_lib


def test_sample_windows_are_deterministic_contiguous_slices():
  tokens = np.arange(1000, dtype=np.int32) * 3 + 7  # Distinct values: positions are recoverable.
  key = jax.random.PRNGKey(0)
  windows = np.asarray(windows_lib.sample_windows(tokens, key, 16, 10))
  assert windows.shape == (16, 11)
  np.testing.assert_array_equal(
      windows, np.asarray(windows_lib.sample_windows(tokens, key, 16, 10)))
  for row in windows:
    start = (row[0] - 7) // 3
    np.testing.assert_array_equal(row, tokens[start:start + 11])
  starts = (windows[:, 0] - 7) // 3
  assert len(set(starts.tolist())) > 1
  other = np.asarray(windows_lib.sample_windows(tokens, jax.random.PRNGKey(1), 16, 10))
  assert not np.array_equal(other, windows)


def test_sample_windows_reach_both_ends():
  tokens = np.arange(12, dtype=np.int32)
  windows = np.asarray(windows_lib.sample_windows(tokens, jax.random.PRNGKey(0), 200, 9))
  assert set(windows[:, 0].tolist()) == {0, 1, 2}  # Every start whose window fits.


def test_sample_windows_short_corpus():
  with pytest.raises(ValueError, match='shorter'):
    windows_lib.sample_windows(np.arange(5, dtype=np.int32), jax.random.PRNGKey(0), 2, 5)


def test_batch_key():
  keys = [np.asarray(windows_lib.batch_key(0, step)) for step in range(4)]
  assert len({k.tobytes() for k in keys}) == 4
  np.testing.assert_array_equal(windows_lib.batch_key(0, 2), keys[2])
  assert not np.array_equal(np.asarray(windows_lib.batch_key(1, 2)), keys[2])


@pytest.mark.parametrize('n,num_streams,window', [
    (50, 4, 8), (33, 3, 4), (9, 1, 16), (17, 32, 4), (64, 7, 1), (2, 3, 5)])
def test_eval_streams_cover_every_target_once(n, num_streams, window):
  tokens = np.arange(100, 100 + n, dtype=np.int32)  # Distinct values.
  streams = windows_lib.eval_streams(tokens, num_streams, window)
  s, length = streams.inputs.shape
  assert streams.targets.shape == streams.mask.shape == (s, length)
  assert length % window == 0 and 1 <= s <= num_streams
  assert streams.num_targets == n - 1
  real = streams.mask == 1
  targets = streams.targets[real]
  # Every token except the first is a target exactly once, after its predecessor.
  assert sorted(targets.tolist()) == tokens[1:].tolist()
  np.testing.assert_array_equal(streams.inputs[real], targets - 1)
  # Within a stream, each input is the previous target: streams are contiguous.
  for row_in, row_t, row_m in zip(streams.inputs, streams.targets, streams.mask):
    valid = row_m[1:] == 1
    np.testing.assert_array_equal(row_in[1:][valid], row_t[:-1][valid])
  assert set(np.unique(streams.mask).tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize('n,seq_len,stride', [
    (2, 4, 2), (5, 8, 3), (9, 8, 8), (10, 8, 8), (10, 8, 1), (37, 8, 3), (64, 16, 16),
    (65, 16, 16), (100, 16, 1), (101, 7, 5), (17, 4, 4), (5, 12, 6), (97, 10, 7)])
def test_eval_windows_scores_every_target_once(n, seq_len, stride):
  tokens = np.arange(n, dtype=np.int32) + 1000
  windows, mask = windows_lib.eval_windows(tokens, seq_len, stride)
  assert windows.shape == (len(mask), seq_len + 1) and mask.shape[1] == seq_len
  assert mask.sum() == n - 1
  w_idx, j_idx = np.nonzero(mask)
  targets = w_idx * stride + 1 + j_idx
  np.testing.assert_array_equal(np.sort(targets), np.arange(1, n))
  np.testing.assert_array_equal(windows[w_idx, j_idx + 1], tokens[targets])
  # Every scored target after the first window sees >= seq_len - stride of context.
  assert (j_idx[w_idx > 0] >= seq_len - stride).all()


def test_eval_windows_rejects_a_single_token_and_bad_strides():
  with pytest.raises(ValueError, match='1 tokens'):
    windows_lib.eval_windows(np.zeros(1, np.int32), 8, 4)
  for stride in (0, 9):
    with pytest.raises(ValueError, match='stride'):
      windows_lib.eval_windows(np.zeros(100, np.int32), 8, stride)


@pytest.mark.parametrize('batch_size', [1, 3, 64])
def test_eval_window_batches_keep_the_windows_and_pad_with_masked_ones(batch_size):
  tokens = np.arange(97, dtype=np.int32)
  windows, mask = windows_lib.eval_windows(tokens, 10, 7)
  batched_w, batched_m = windows_lib.eval_window_batches(tokens, 10, 7, batch_size)
  assert batched_w.shape[1:] == (batch_size, 11) and batched_m.shape[1:] == (batch_size, 10)
  flat_w, flat_m = batched_w.reshape(-1, 11), batched_m.reshape(-1, 10)
  assert len(flat_w) - len(windows) == -len(windows) % batch_size
  np.testing.assert_array_equal(flat_w[:len(windows)], windows)
  np.testing.assert_array_equal(flat_m[:len(mask)], mask)
  assert not flat_m[len(mask):].any()
  with pytest.raises(ValueError, match='batch_size'):
    windows_lib.eval_window_batches(tokens, 10, 7, 0)


