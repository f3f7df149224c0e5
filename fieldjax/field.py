"""Causal gravitational field evolution: what the field LM has instead of attention.

A sequence of T tokens is T particles. Particle t has a position x_t in the
d-dimensional field (initially its token's embedding), a mass m_t (its
token's mass, `fieldjax.model.token_masses`) and a fixed place t on the
cylinder's axis. A particle is pulled by the particles before it, with
softened Newtonian gravity in the combined distance

    A[t, s] = G m_s / (|x_t - x_s|^2 + ((t - s) / ell)^2 + eps^2)^(3/2)
              for 0 < t - s <= window, else 0                   (causal mask)

    F_t = sum_s A[t, s] (x_s - x_t).

One integration step of length dt (overdamped, first order; the self term is
taken implicitly, which keeps every step stable for any dt >= 0):

    x_t <- (x_t + dt * sum_s A[t, s] x_s) / (1 + dt * sum_s A[t, s]).

So each step moves x_t towards the mass-weighted mean of the particles it
feels, and never out of their convex hull. `num_steps` steps play the role of
layers. The axis term makes gravity fade with distance along the sequence
(ell is the range, in tokens); `window` truncates it exactly.

Traces: a causal potential along the axis. Gravity acts within `window`
tokens; to carry the further past, each particle also reads J traces of the
field it has passed through, one per time scale,

    u^j_t = (1 - a_j) u^j_{t-1} + a_j x_t,   u^j_{-1} = 0,   a_j = phi^(-2 j),

j = 1..J (`trace_scales`): rates 0.382, 0.146, 0.056, 0.021, 0.008, ..., i.e.
memories of ~2.6, 6.9, 18, 47, 123 tokens, each the golden ratio squared longer
than the last (as the Landauer stack rotates deeper layers more slowly). One
O(T) scan; |u^j_t| <= max_s |x_s| (a convex combination).

Memory: queries are processed in chunks of `chunk` positions against at most
`chunk + window` keys, so one step holds O(chunk * (chunk + window)) of A
instead of O(T^2). Everything here is for one sequence; vmap over the batch.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class FieldConfig:
  gravity: float = 0.05     # G, in field units.
  softening: float = 0.382  # eps (= GAP), keeps A finite for coincident particles.
  axis_range: float = 4.0   # ell, tokens: gravity's reach along the sequence.
  window: int = 256         # Hard causal cut-off, tokens.
  chunk: int = 128          # Query chunk for bounded memory.
  num_steps: int = 2        # Integration steps ("layers").
  trace_scales: int = 0     # J: golden-ratio time scales of the traces (0: none).

  def __post_init__(self):
    if self.num_steps < 0 or self.trace_scales < 0:
      raise ValueError(f'field.num_steps and field.trace_scales must be >= 0, got '
                       f'{self.num_steps} and {self.trace_scales}.')


def squared_distances(a_MxD: jax.Array, b_NxD: jax.Array) -> jax.Array:
  """|a_m - b_n|^2 as |a_m|^2 + |b_n|^2 - 2 a_m.b_n, float32 [M, N], >= 0.

  One matmul instead of an [M, N, D] difference. The cross term is a dot of
  float32 operands at Precision.HIGHEST: on a GPU a float32 matmul defaults to
  TF32 (10-bit mantissa, relative error ~5e-4), and the expansion cancels, so
  for nearby points (where gravity and recall's pull are strongest) TF32 would
  leave errors of ~1e-3 |a|^2, comparable to eps^2 (0.0025 for recall in
  field_best). On CPU the precision changes nothing (it is always full float32).
  """
  a = a_MxD.astype(jnp.float32)
  b = b_NxD.astype(jnp.float32)
  cross_MxN = jnp.einsum('md,nd->mn', a, b, precision=jax.lax.Precision.HIGHEST)
  return jnp.maximum(jnp.sum(a * a, -1)[:, None] + jnp.sum(b * b, -1)[None, :]
                     - 2.0 * cross_MxN, 0.0)


def gravity_matrix(x_query_CxD: jax.Array, x_key_KxD: jax.Array,
                   mass_K: jax.Array, offset_CxK: jax.Array,
                   cfg: FieldConfig) -> jax.Array:
  """A[t, s] between C queries and K keys, float32 [C, K].

  Args:
    x_query_CxD, x_key_KxD: particle positions.
    mass_K: the keys' masses.
    offset_CxK: t - s, positions along the axis (tokens); pairs with offset
      <= 0 (not strictly earlier) or > cfg.window get zero.
    cfg: field constants.
  """
  dist2_CxK = squared_distances(x_query_CxD, x_key_KxD)
  axis2_CxK = (offset_CxK.astype(jnp.float32) / cfg.axis_range) ** 2
  r2 = dist2_CxK + axis2_CxK + cfg.softening ** 2
  strength = cfg.gravity * mass_K[None, :] * jax.lax.rsqrt(r2) ** 3
  causal = (offset_CxK > 0) & (offset_CxK <= cfg.window)
  return jnp.where(causal, strength, 0.0)


def _blocks(length: int, cfg: FieldConfig) -> tuple[int, int, int]:
  chunk = min(cfg.chunk, length)
  num_chunks = -(-length // chunk)
  keys = min(chunk + cfg.window, num_chunks * chunk)
  return chunk, num_chunks, keys


def field_step(x_TxD: jax.Array, mass_T: jax.Array, dt: jax.Array,
               cfg: FieldConfig) -> jax.Array:
  """One implicit-self Euler step of the gravitational field, [T, D] -> [T, D].

  `dt` is a scalar or per-particle [T] (or [T, 1]) time step, >= 0 and finite.
  """
  length, dim = x_TxD.shape
  chunk, num_chunks, num_keys = _blocks(length, cfg)
  padded = num_chunks * chunk
  front = num_keys - chunk  # Keys that precede a chunk's first query.
  # Pad so every chunk can slice its keys [q0 - front, q0 + chunk); padded
  # particles have zero mass and negative positions, so they never pull.
  x_pad = jnp.pad(x_TxD, ((front, padded - length), (0, 0)))
  m_pad = jnp.pad(mass_T.astype(jnp.float32), (front, padded - length))
  pos_pad = jnp.arange(padded + front) - front
  dt_pad = jnp.pad(jnp.broadcast_to(jnp.reshape(jnp.asarray(dt, jnp.float32), (-1,)),
                                    (length,)), (0, padded - length))

  def one_chunk(q0):
    xq = jax.lax.dynamic_slice(x_pad, (q0 + front, 0), (chunk, dim))
    xk = jax.lax.dynamic_slice(x_pad, (q0, 0), (num_keys, dim))
    mk = jax.lax.dynamic_slice(m_pad, (q0,), (num_keys,))
    pk = jax.lax.dynamic_slice(pos_pad, (q0,), (num_keys,))
    offset = (q0 + jnp.arange(chunk))[:, None] - pk[None, :]
    dt = jax.lax.dynamic_slice(dt_pad, (q0,), (chunk,))[:, None]
    a_CxK = gravity_matrix(xq, xk, mk, offset, cfg)
    pull_CxD = jnp.einsum('ck,kd->cd', a_CxK, xk.astype(jnp.float32))
    total_C = jnp.sum(a_CxK, -1, keepdims=True)
    new = (xq.astype(jnp.float32) + dt * pull_CxD) / (1.0 + dt * total_C)
    return new.astype(x_TxD.dtype)

  starts = jnp.arange(num_chunks) * chunk
  if num_chunks == 1:
    out = one_chunk(starts[0])
  else:
    out = jax.lax.map(one_chunk, starts).reshape(padded, dim)
  return out[:length]


def full_gravity_matrix(x_TxD: jax.Array, mass_T: jax.Array,
                        cfg: FieldConfig) -> jax.Array:
  """The whole causal A, [T, T] (for analysis and pictures; O(T^2) memory)."""
  t = jnp.arange(x_TxD.shape[0])
  return gravity_matrix(x_TxD, x_TxD, mass_T, t[:, None] - t[None, :], cfg)


GOLDEN = (1 + 5 ** 0.5) / 2


def trace_rates(num_scales: int) -> jax.Array:
  """a_j = phi^(-2 j), j = 1..J: float32 [J], each phi^2 slower than the last."""
  return GOLDEN ** (-2.0 * jnp.arange(1, num_scales + 1, dtype=jnp.float32))


def scan_unroll() -> int:
  """Steps per iteration of the traces' scan: 1 on the CPU backend, 8 elsewhere (read
  at trace time). The body is a few elementwise ops on [J, d]: on a GPU each while-loop
  iteration costs kernel launches, which unrolling amortises (8: the usual choice, not
  measured here); on the CPU 1 measured no slower (as landauerjax.kernels.default_unroll)."""
  return 1 if jax.default_backend() == 'cpu' else 8


def traces(x_TxD: jax.Array, num_scales: int, unroll: int | None = None) -> jax.Array:
  """The J traces of every particle, [T, J d] (module docstring); causal, O(T).
  `unroll`: scan steps per iteration (None: `scan_unroll()`; equal within float32 rounding
  whatever it is: XLA fuses an unrolled body differently)."""
  a_Jx1 = trace_rates(num_scales)[:, None]

  def step(u_JxD, x_D):
    u_JxD = (1.0 - a_Jx1) * u_JxD + a_Jx1 * x_D.astype(jnp.float32)[None, :]
    return u_JxD, u_JxD

  _, u_TxJxD = jax.lax.scan(step, jnp.zeros((num_scales, x_TxD.shape[1]), jnp.float32), x_TxD,
                            unroll=scan_unroll() if unroll is None else unroll)
  return u_TxJxD.reshape(x_TxD.shape[0], -1).astype(x_TxD.dtype)
