"""Statistics of a hidden-state trajectory: does a generation fall into a loop?

Pure NumPy functions used by `experiments/demo_trajectory.py`. States are
[N, D] arrays, one row per generated character.
"""

from __future__ import annotations

import numpy as np


def real_states(states_NxD: np.ndarray) -> np.ndarray:
  """float64 [N, D] (or [N, 2D]: real, imaginary parts for complex states)."""
  if np.iscomplexobj(states_NxD):
    states_NxD = np.concatenate([states_NxD.real, states_NxD.imag], axis=-1)
  return np.asarray(states_NxD, np.float64)


def pca_2d(states_NxD: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Projection [N, 2] on the first two principal components; their variance fractions."""
  centered = states_NxD - states_NxD.mean(axis=0)
  _, s, vt = np.linalg.svd(centered, full_matrices=False)
  var = s**2
  return centered @ vt[:2].T, var[:2] / max(var.sum(), 1e-30)


def autocorrelation(states_NxD: np.ndarray, max_lag: int) -> np.ndarray:
  """mean_t cos(h_t - mean, h_{t+lag} - mean) for lag = 1..max_lag: [max_lag] (unitless)."""
  centered = states_NxD - states_NxD.mean(axis=0)
  unit = centered / np.maximum(np.linalg.norm(centered, axis=1, keepdims=True), 1e-12)
  max_lag = min(max_lag, len(unit) - 1)
  return np.array([np.mean(np.sum(unit[:-lag] * unit[lag:], axis=1))
                   for lag in range(1, max_lag + 1)])


def recurrence(states_NxD: np.ndarray, points: int, eps_fraction: float
               ) -> tuple[np.ndarray, np.ndarray, float, float]:
  """Recurrence matrix over `points` evenly spaced states.

  Returns (bool [P, P], time indices [P], eps, recurrence rate): the rate is the
  fraction of off-diagonal pairs closer than eps = eps_fraction * median distance.
  """
  index = np.unique(np.linspace(0, len(states_NxD) - 1, points).round().astype(int))
  x = states_NxD[index]
  sq = np.sum(x**2, axis=1)
  dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0))
  off_diagonal = ~np.eye(len(index), dtype=bool)
  eps = eps_fraction * float(np.median(dist[off_diagonal]))
  matrix = dist < eps
  return matrix, index, eps, float(matrix[off_diagonal].mean())


def longest_repeated_substring(text: str) -> str:
  """The longest substring occurring at least twice (occurrences may overlap)."""
  suffixes = sorted(range(len(text)), key=lambda i: text[i:])
  best = ''
  for a, b in zip(suffixes, suffixes[1:]):
    n = 0
    while a + n < len(text) and b + n < len(text) and text[a + n] == text[b + n]:
      n += 1
    if n > len(best):
      best = text[a:a + n]
  return best


def best_period(text: str) -> tuple[int, float]:
  """The period p <= len/2 maximising the fraction of i with s[i] == s[i+p]; that fraction."""
  codes = np.frombuffer(text.encode('utf-32-le'), dtype=np.uint32)
  best = (0, 0.0)
  for p in range(1, len(codes) // 2 + 1):
    match = float(np.mean(codes[:-p] == codes[p:]))
    if match > best[1]:
      best = (p, match)
  return best
