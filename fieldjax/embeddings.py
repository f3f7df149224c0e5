"""Fixed token embeddings: golden-spiral cylindrical, and the log-phase transform.

Golden spiral. Token `v` is a particle on a product of `n = dim / 2` circles
(one "cylinder" per pair of coordinates; the cylinder's axis is the sequence
position, used by `fieldjax.field`). Its angle on circle `j` is

    theta[v, j] = 2 pi * frac(1/2 + (v + 1) * alpha_j),   alpha_j = g_n ** -(j + 1),

where `g_n` is the generalised golden ratio, the positive root of
`x ** (n + 1) = x + 1` (Roberts' R_n sequence). For one circle `g_1 = PHI` and
the angles step by the golden angle 2 pi * GAP (mod 2 pi), the classical
golden spiral; for more circles the R_n sequence is the additive recurrence
with the lowest known discrepancy, so the particles are spread more evenly
than random points (tests check the largest coherence and the smallest
distance between tokens against random unit vectors). The embedding is
`[cos theta, sin theta] / sqrt(n)`: unit norm, no learned parameters.

Log-phase. `log_phase(x) = sign(x) * ln(1 + |x| / s)` keeps each coordinate's
phase (its sign) and takes the logarithm of its amplitude, relative to a
scale `s` (default `GAP / sqrt(dim)`, a fraction of a unit vector's typical
coordinate). It compresses large coordinates and lifts small ones. The
original credits it with "29.65x Hebbian amplification"; `fieldjax.analysis`
measures what it does to a Hebbian update (docs/RESULTS.md).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import constants

EMBEDDINGS = ('golden', 'log_phase', 'random')


def generalized_golden_ratio(num_circles: int) -> float:
  """The positive root of x**(n+1) = x + 1 (PHI for n = 1)."""
  if num_circles < 1:
    raise ValueError(f'num_circles must be >= 1, got {num_circles}.')
  x = 2.0
  for _ in range(200):  # Fixed-point iteration; contracts for every n >= 1.
    x = (1.0 + x) ** (1.0 / (num_circles + 1))
  return x


def golden_angles(vocab_size: int, num_circles: int) -> np.ndarray:
  """Angles theta[v, j] in radians, float64 [vocab_size, num_circles]."""
  g = generalized_golden_ratio(num_circles)
  alpha_n = g ** -np.arange(1, num_circles + 1, dtype=np.float64)
  tokens_v = np.arange(1, vocab_size + 1, dtype=np.float64)[:, None]
  return 2.0 * math.pi * np.mod(0.5 + tokens_v * alpha_n, 1.0)


@functools.lru_cache(maxsize=16)
def _golden_table(vocab_size: int, dim: int) -> np.ndarray:
  theta_VxN = golden_angles(vocab_size, dim // 2)
  table = np.concatenate([np.cos(theta_VxN), np.sin(theta_VxN)], axis=1)
  return (table / math.sqrt(dim // 2)).astype(np.float32)


def log_phase(x: jax.Array, scale: float) -> jax.Array:
  """sign(x) * ln(1 + |x| / scale), elementwise; any shape."""
  return jnp.sign(x) * jnp.log1p(jnp.abs(x) / scale)


def default_log_phase_scale(dim: int) -> float:
  return constants.GAP / math.sqrt(dim)


def embedding_table(kind: str, vocab_size: int, dim: int, *,
                    normalize: bool = True, seed: int = 0) -> np.ndarray:
  """The fixed embedding table, float32 [vocab_size, dim].

  Args:
    kind: 'golden' (the golden spiral), 'log_phase' (the golden spiral through
      `log_phase`) or 'random' (Gaussian unit vectors, a control).
    vocab_size: number of tokens V.
    dim: embedding dimension d (even).
    normalize: rescale every row to unit norm (the model always does, so
      that embeddings differ in geometry, not in scale; pass False to see the
      raw log-phase amplitudes).
    seed: seed of the 'random' control.
  """
  if kind not in EMBEDDINGS:
    raise ValueError(f'Unknown embedding {kind!r}; expected one of {EMBEDDINGS}.')
  if dim < 2 or dim % 2:
    raise ValueError(f'Embedding dim must be even and >= 2, got {dim}.')
  if vocab_size < 1:
    raise ValueError(f'vocab_size must be >= 1, got {vocab_size}.')
  if kind == 'random':
    table = np.random.default_rng(seed).standard_normal((vocab_size, dim))
    table = table.astype(np.float32)
  else:
    table = _golden_table(vocab_size, dim)
    if kind == 'log_phase':
      # NumPy, not jnp: the table is a constant also when built under jit.
      scale = default_log_phase_scale(dim)
      table = np.sign(table) * np.log1p(np.abs(table) / scale)
  if normalize:
    table = table / np.linalg.norm(table, axis=1, keepdims=True)
  return table.astype(np.float32)


def spread_stats(table_VxD: np.ndarray) -> dict[str, float]:
  """How evenly unit vectors are spread: largest |cosine| and smallest distance."""
  unit = table_VxD / np.linalg.norm(table_VxD, axis=1, keepdims=True)
  cos_VxV = unit @ unit.T
  off = ~np.eye(len(unit), dtype=bool)
  dist = np.sqrt(np.maximum(2.0 - 2.0 * cos_VxV[off], 0.0))
  return {'max_abs_cosine': float(np.abs(cos_VxV[off]).max()),
          'rms_cosine': float(np.sqrt(np.mean(cos_VxV[off] ** 2))),
          'min_distance': float(dist.min())}
