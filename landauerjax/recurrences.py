"""The Landauer cells as pure recurrences: (h, z_t) -> h_new, everything
time-independent already in z_t (the layer's *drive*, see landauerjax.models).

These are the equations a reader looks for; `landauerjax.kernels` runs them over
time (scans, custom VJPs) and `landauerjax.models` wraps them in Flax layers.

  original  h <- tanh(z + s * h * cos(phi_l * k + h))        (the original cell)
  phasor    h <- lambda * h + b                                 (ours; complex, linear)
  lstm, gru  the baselines, with their input projections in z.

Shapes: B batch, H hidden (state) size, N phasor state size.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from landauerjax import constants


def sin_cos_unit(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """sin(x), cos(x) for |x| <= 1 by Taylor polynomials (error < 1e-12).

  XLA's CPU cos/sin are ~10x slower than tanh; these are plain multiply-adds.
  """
  x2 = x * x
  sin, cos = 0.0, 0.0
  for n in range(13, 0, -2):  # Horner in x^2 up to x^13 and x^14.
    sin = 1.0 / math.factorial(n) - x2 * sin
    cos = 1.0 / math.factorial(n + 1) - x2 * cos
  return x * sin, 1.0 - x2 * cos


def rotation(h_BxH: jax.Array, cos_phase_H: jax.Array, sin_phase_H: jax.Array
              ) -> tuple[jax.Array, jax.Array]:
  """cos(phase + h) and its derivative in h, -sin(phase + h), for |h| <= 1."""
  sin_h, cos_h = sin_cos_unit(h_BxH)
  return (cos_phase_H * cos_h - sin_phase_H * sin_h,
          -(sin_phase_H * cos_h + cos_phase_H * sin_h))


def original_recurrence(h_BxH: jax.Array, z_BxH: jax.Array, scale_H: jax.Array,
                    cos_phase_H: jax.Array, sin_phase_H: jax.Array) -> jax.Array:
  """The original cell: tanh(z + s * h * cos(phase + h)), phase_k = phi_l * k.

  cos(phase + h) = cos(phase) cos(h) - sin(phase) sin(h), with the phase terms
  precomputed per unit and |h| <= 1 (h is a tanh output or the zero state).
  """
  rotation_H = rotation(h_BxH, cos_phase_H, sin_phase_H)[0]
  return jnp.tanh(z_BxH + scale_H * h_BxH * rotation_H)


def lstm_recurrence(carry: tuple[jax.Array, jax.Array], z_Bx4H: jax.Array,
                    w_hh_Hx4H: jax.Array) -> tuple[jax.Array, jax.Array]:
  """LSTM with the input projection (and bias) precomputed in z: (c, h) -> (c, h)."""
  c, h = carry
  i, f, g, o = jnp.split(z_Bx4H + h @ w_hh_Hx4H, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return c, jax.nn.sigmoid(o) * jnp.tanh(c)


def gru_recurrence(h_BxH: jax.Array, z_Bx3H: jax.Array, w_hh_Hx3H: jax.Array,
                   b_hh_3H: jax.Array) -> jax.Array:
  """GRU (PyTorch convention: reset gate applied to W_hn h + b_hn)."""
  zr, zz, zn = jnp.split(z_Bx3H, 3, axis=-1)
  hr, hz, hn = jnp.split(h_BxH @ w_hh_Hx3H + b_hh_3H, 3, axis=-1)
  r = jax.nn.sigmoid(zr + hr)
  u = jax.nn.sigmoid(zz + hz)
  n = jnp.tanh(zn + r * hn)
  return (1.0 - u) * n + u * h_BxH


def linear_recurrence(h_BxN: jax.Array, b_BxN: jax.Array, lam_N: jax.Array) -> jax.Array:
  """The phasor layer's state update h <- lambda * h + b (complex)."""
  return lam_N * h_BxN + b_BxN


def golden_phases(num: int, max_phase: float, level: int, scaling: float) -> jax.Array:
  """Aperiodic rotation angles: frac(k * golden / 2pi) * max_phase / c**level."""
  k = jnp.arange(num, dtype=jnp.float32)
  frac = jnp.mod(k * constants.GOLDEN_ANGLE, 2 * math.pi) / (2 * math.pi)
  return frac * max_phase / scaling**level
