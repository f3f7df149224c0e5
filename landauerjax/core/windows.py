"""Token arrays into model inputs: random training windows, and evaluation layouts.

* `sample_windows` / `batch_key`: training batch `step` is B random windows
  drawn with fold_in(PRNGKey(seed), step), a pure function of (seed, step), so
  the "iterator state" to save for an exact resume is the step number alone.
* `eval_streams`: a split as S parallel streams, for a recurrent model that
  carries its state along the split (the Landauer LM).
* `eval_windows` / `eval_window_batches`: overlapping windows that score every
  target once, for models without a state to carry (the field LM, the
  transformer baseline).

Shapes: B batch, T window length, N corpus length, S streams. Imports no model.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np


def sample_windows(tokens_N: jax.Array, key: jax.Array, batch_size: int,
                   seq_len: int) -> jax.Array:
  """Draws B random windows of T+1 consecutive tokens: int32[B, T+1].

  Inputs are `[:, :-1]`, next-token targets `[:, 1:]`. Pure and jittable.
  """
  n = tokens_N.shape[0]
  if n < seq_len + 1:
    raise ValueError(f'Corpus of {n} tokens is shorter than a window of {seq_len + 1}.')
  starts_B = jax.random.randint(key, (batch_size,), 0, n - seq_len)
  take = lambda s: jax.lax.dynamic_slice_in_dim(tokens_N, s, seq_len + 1)
  return jax.vmap(take)(starts_B)


def batch_key(seed: int, step: int | jax.Array) -> jax.Array:
  """The PRNG key of training batch `step`: fold_in(PRNGKey(seed), step)."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), step)


@dataclasses.dataclass(frozen=True)
class EvalStreams:
  """The validation split laid out as S parallel streams, padded to whole windows.

  inputs_SxL / targets_SxL: int32; mask_SxL: float32 (1 for real targets).
  Every token but the first is a target exactly once.
  """

  inputs: np.ndarray
  targets: np.ndarray
  mask: np.ndarray

  @property
  def num_targets(self) -> int:
    return int(self.mask.sum())


def eval_streams(tokens_N: np.ndarray, num_streams: int, window: int) -> EvalStreams:
  """Cuts (tokens[:-1], tokens[1:]) into S contiguous streams of L = k*window.

  Stream s continues where stream s-1 stops, so carrying state along each stream
  covers the split with S cold starts in all; the tail is padded and masked.
  """
  inputs, targets = tokens_N[:-1], tokens_N[1:]
  n = len(inputs)
  num_streams = max(1, min(num_streams, n))
  per_stream = -(-n // num_streams)
  length = -(-per_stream // window) * window
  pad = num_streams * length - n
  mask = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
  pad_tokens = lambda a: np.concatenate([a, np.zeros(pad, np.int32)])
  shape = (num_streams, length)
  return EvalStreams(pad_tokens(inputs).reshape(shape),
                     pad_tokens(targets).reshape(shape), mask.reshape(shape))


def eval_windows(tokens_N: np.ndarray, seq_len: int, stride: int
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Overlapping windows that score every target of the split exactly once.

  For models without a state to carry along the split (the field LM, the
  transformer baseline).

  Window w starts at w * stride; the first scores all its targets, later ones
  only their last `stride` (which therefore see >= seq_len - stride tokens of
  context).

  Returns:
    (windows int32 [W, seq_len + 1], mask float32 [W, seq_len]).
  """
  n = len(tokens_N)
  if n < 2:
    raise ValueError(f'Cannot evaluate a split of {n} tokens.')
  if not 0 < stride <= seq_len:
    raise ValueError(f'stride must be in [1, seq_len={seq_len}], got {stride}.')
  num_windows = max(1, -(-(n - 1 - seq_len) // stride) + 1)
  padded = np.concatenate([tokens_N, np.zeros(
      max(0, (num_windows - 1) * stride + seq_len + 1 - n), tokens_N.dtype)])
  starts = np.arange(num_windows) * stride
  windows = np.stack([padded[s:s + seq_len + 1] for s in starts]).astype(np.int32)
  target_index = starts[:, None] + 1 + np.arange(seq_len)[None, :]
  mask = target_index < n
  mask[1:, :seq_len - stride] = False
  return windows, mask.astype(np.float32)


def eval_window_batches(tokens_N: np.ndarray, seq_len: int, stride: int,
                        batch_size: int) -> tuple[np.ndarray, np.ndarray]:
  """`eval_windows` padded with masked-out windows to whole batches of one shape.

  Returns:
    (windows int32 [N, batch_size, seq_len + 1], mask float32 [N, batch_size,
    seq_len]); every batch has the same shape, so a jitted scorer compiles once.
  """
  if batch_size < 1:
    raise ValueError(f'batch_size must be positive, got {batch_size}.')
  windows, mask = eval_windows(tokens_N, seq_len, stride)
  pad = -len(windows) % batch_size
  windows = np.concatenate([windows, np.zeros((pad,) + windows.shape[1:], np.int32)])
  mask = np.concatenate([mask, np.zeros((pad,) + mask.shape[1:], np.float32)])
  return (windows.reshape(-1, batch_size, seq_len + 1),
          mask.reshape(-1, batch_size, seq_len))
