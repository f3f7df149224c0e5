"""Recall through the field's pull: particles read what followed the particles that pull them.

The sparse crystal is frozen at evaluation: it cannot use a name or a phrase
that occurred earlier in the same window. Recall lets the field do it. Each
particle t is pulled by the earlier particles s of its window with gravity's
kernel in the field space alone (no fading along the axis),

    A[t, s] = m_s (|z_t - z_s|^2 + eps^2)^(-3/2)       for s < t, s a real token,

where z_t = [x'_t, u^1_t, ..., u^J_t] is the evolved particle with its first J
traces (`fieldjax.field.traces`), so particles whose recent pasts look alike
pull each other hardest, and m_s is the source's mass, its token's information
content (`fieldjax.model.token_masses`, as in gravity's kernel), so rare tokens
pull harder. (The floor form below, dt = 0, has m_s = 1.)

Charges. Besides its position, every particle carries a charge q, a
distribution over the V tokens: what follows it. An earlier particle's charge
is collapsed, the one-hot of the token that did follow it (y_{s+1}, known at
t > s); particle t's own is not, and starts uniform, q^0_t = 1/V. The field
relaxes it towards its pullers' charges with the integrator that moves the
positions (`fieldjax.field.field_step`: implicit self term, time step dt),

    q^{k+1}_t = (q^k_t + dt sum_s A[t, s] onehot(y_{s+1})) / (1 + dt a_t),
    a_t = sum_s A[t, s],

once per step of the field's evolution (S = field.num_steps, on the evolved
particles). The sources are fixed, so the S steps have a closed form,

    q^S_t = w_t^S / V + (1 - w_t^S) c_t,   w_t = 1 / (1 + dt a_t),
    c_t(v) = sum_s A[t, s] [y_{s+1} = v] / a_t,

a mixture of the uniform prior and the pull-weighted successors whose weight
moves to the successors as the pull (the evidence) grows. With S = 0 (the
field's evolution off) q = 1/V and recall is silent. f_t = ln q^S_t.

dt = 0 is the earlier floor form, f_t = ln(c_t + floor) whatever S, kept so
that runs recorded with it load unchanged.

The logits get g_b (f_t - mean_v f_t): a causal, O(T^2)-per-window cousin of
attention's induction heads. The gain g_b is one of B gains, chosen by
b = floor(log2(1 + a_t)) (how strongly t is pulled: a confidence), and learns
by the delta rule on the joint error,

    g_b <- g_b + rate * mean_{t: b(t) = b} <f_t - mean f_t, onehot(y_{t+1}) - p_t>,

the gain's input times the error at its output: a local rule, no gradient.
Recall is off when `softening` is 0. Everything here is for one sequence (or a
flat batch for the gains); callers vmap.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from fieldjax import crystal
from fieldjax import field as field_lib


@dataclasses.dataclass(frozen=True)
class RecallConfig:
  softening: float = 0.0   # eps, field units; 0 turns recall off.
  trace_scales: int = 2    # J traces that join the particle in z.
  rate: float = 0.02       # The gains' delta-rule rate.
  floor: float = 1e-3      # Added to c_t before the log (the floor form, dt = 0).
  dt: float = 0.0          # The charges' time step, 1 / pull units; 0: the floor form.
  buckets: int = 8         # B gains, by log2 of the total pull.

  def __post_init__(self):
    if not self.softening >= 0 or self.trace_scales < 0 or self.buckets < 1:
      raise ValueError(f'recall.softening must be >= 0 (0: off), recall.trace_scales >= 0 and '
                       f'recall.buckets >= 1, got {self.softening}, {self.trace_scales} and '
                       f'{self.buckets}.')
    if not self.rate >= 0 or not self.floor > 0 or not self.dt >= 0:
      raise ValueError(f'recall.rate must be >= 0, recall.floor > 0 and recall.dt >= 0 (0: '
                       f'the floor form), got {self.rate}, {self.floor} and {self.dt}.')

  @property
  def enabled(self) -> bool:
    return self.softening > 0


def recall_features(z_TxF: jax.Array, tokens_T: jax.Array, valid_T: jax.Array | None,
                    vocab_size: int, cfg: RecallConfig, *, mass_T: jax.Array | None = None,
                    num_steps: int = 1, num_queries: int | None = None
                    ) -> tuple[jax.Array, jax.Array]:
  """(f - mean f, float32 [Q, V]; gain index b, int32 [Q]) of one window (docstring).

  Args:
    z_TxF: what the particles match on, [x'_t, traces].
    tokens_T: the window's tokens (y_{s+1} is tokens_T[s + 1]).
    valid_T: real tokens (False: left padding in generation); None: all.
    vocab_size: V.
    cfg: recall constants.
    mass_T: the particles' masses m_s (>= 0), applied as given; None: all 1
      (the model passes them with charges only, dt > 0: `fieldjax.components`).
    num_steps: S, the charges' relaxation steps (the field's num_steps; unused when
      cfg.dt = 0).
    num_queries: Q, the window's last Q positions (generation needs the last one only:
      O(T) instead of O(T^2)); None: all T.
  """
  z = z_TxF.astype(jnp.float32)
  length = z.shape[0]
  queries = length if num_queries is None else num_queries
  t = jnp.arange(length - queries, length)
  # The expansion's cross term at full float32 precision (TF32 on a GPU would cost ~1e-3 |z|^2,
  # comparable to field_best's eps^2 = 0.0025): field.squared_distances.
  dist2_QxT = field_lib.squared_distances(z[length - queries:], z)
  pull_QxT = (dist2_QxT + cfg.softening ** 2) ** -1.5
  if mass_T is not None:
    pull_QxT = pull_QxT * mass_T.astype(jnp.float32)[None, :]
  earlier = jnp.arange(length)[None, :] < t[:, None]  # s < t: y_{s+1} is known at t.
  if valid_T is not None:
    earlier = earlier & valid_T.astype(bool)[None, :]
  pull_QxT = jnp.where(earlier, pull_QxT, 0.0)
  # Position T - 1 has no successor in the window; no t is later, so its filler is unread.
  next_T = jnp.concatenate([tokens_T[1:], tokens_T[-1:]])
  votes_QxV = pull_QxT @ jax.nn.one_hot(next_T, vocab_size, dtype=jnp.float32)
  total_Q = jnp.sum(pull_QxT, -1)
  c_QxV = votes_QxV / jnp.maximum(total_Q, 1e-30)[:, None]
  if cfg.dt > 0:
    # w^S, the prior's weight after S relaxation steps; w = 1 (no pull, or S = 0) keeps q = 1/V.
    prior_Q = (1.0 + cfg.dt * total_Q) ** -float(num_steps)
    q_QxV = prior_Q[:, None] / vocab_size + (1.0 - prior_Q)[:, None] * c_QxV
    # The prior's weight can underflow (a huge pull); 1e-30 keeps ln q finite (>= -69.1).
    f_QxV = jnp.log(jnp.maximum(q_QxV, 1e-30))
  else:
    f_QxV = jnp.log(c_QxV + cfg.floor)
  bucket_Q = jnp.clip(jnp.floor(jnp.log2(1.0 + total_Q)), 0, cfg.buckets - 1)
  return f_QxV - jnp.mean(f_QxV, -1, keepdims=True), bucket_Q.astype(jnp.int32)


def recall_logits(gain_B: jax.Array, f_NxV: jax.Array, bucket_N: jax.Array) -> jax.Array:
  """g_b (f - mean f), float32 [N, V]."""
  return gain_B[bucket_N][:, None] * f_NxV


def gain_update(gain_B: jax.Array, f_NxV: jax.Array, bucket_N: jax.Array,
                error_NxV: jax.Array, rate: float) -> jax.Array:
  """g_b <- g_b + rate * mean over the positions of bucket b of <f, error> (docstring)."""
  agreement_N = jnp.sum(f_NxV * error_NxV, -1)
  # Per-bucket sums: a scatter on the CPU, a masked sum on a GPU (crystal.index_sum).
  sums_B = crystal.index_sum(agreement_N.astype(gain_B.dtype), bucket_N, gain_B.shape[0])
  counts_B = crystal.index_sum(jnp.ones(bucket_N.shape, gain_B.dtype), bucket_N,
                               gain_B.shape[0])
  return gain_B + rate * sums_B / jnp.maximum(counts_B, 1.0)
