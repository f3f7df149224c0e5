"""Kernels of the Landauer LM: the time scans and the custom VJPs that make them fast.

* `original_scan`: the original cell over time, with a backward pass written as a
  linear recurrence (every step's Jacobian in one parallel pass, then one
  multiply-add per element and step), in place over its buffers.
* `scan_time` (one `lax.scan`) and `associative_linear_scan` (`lax.associative_scan`,
  for the linear phasor recurrence): the two scan strategies of the layers.
* `matmul` / `dot_general_for`: x @ w with float32 or bfloat16 operands and a
  backward pass shaped for XLA's CPU backend.

docs/BENCHMARKS.md measures each choice. Shapes: T time, B batch, H hidden.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from landauerjax import recurrences


MATMUL_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
_DW_CHUNK = 256  # Rows per block of the bfloat16 weight gradient's contraction.


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def matmul(x_NxK: jax.Array, w_KxM: jax.Array, dtype: str = 'float32') -> jax.Array:
  """x @ w over the last axis of x ([..., K] @ [K, M] -> [..., M], float32).

  `dtype` is the operands' type: 'bfloat16' rounds x and w (and, in the
  backward pass, the incoming gradient) to bfloat16 and accumulates in
  float32, the usual mixed precision; parameters stay float32. On CPUs with
  AVX512-BF16 such matmuls run ~2x faster than float32 ones.

  The backward pass is written out because of how XLA's CPU backend treats
  the weight gradient x^T g, a contraction over the N = B*T rows. In
  bfloat16, one dot with a transposed operand ran ~3x slower than the forward
  matmul (XLA computed it in float32), while summed over blocks of 256 rows
  it is as fast; in float32 (jax 0.10, XLA's YNNPACK matmuls) the single dot
  measured 3-11% faster a train step than the blocks (the original's defaults: 2048
  rows, 256 x 256).
  """
  dt = MATMUL_DTYPES[dtype]
  return jnp.matmul(x_NxK.astype(dt), w_KxM.astype(dt),
                    preferred_element_type=jnp.float32)


def _matmul_fwd(x, w, dtype):
  dt = MATMUL_DTYPES[dtype]
  return matmul(x, w, dtype), (x.astype(dt), w.astype(dt))


def _matmul_bwd(dtype, residuals, g):
  x, w = residuals
  g = g.astype(MATMUL_DTYPES[dtype])
  g_x = jnp.matmul(g, w.T, preferred_element_type=jnp.float32)
  x_NxK = x.reshape(-1, x.shape[-1])
  g_NxM = g.reshape(-1, g.shape[-1])
  n = x_NxK.shape[0]
  if dtype == 'float32':
    return g_x, jnp.einsum('nk,nm->km', x_NxK, g_NxM)
  chunk = _DW_CHUNK if n % _DW_CHUNK == 0 else n
  g_w = jnp.einsum('cnk,cnm->km', x_NxK.reshape(n // chunk, chunk, -1),
                   g_NxM.reshape(n // chunk, chunk, -1),
                   preferred_element_type=jnp.float32)
  return g_x, g_w


matmul.defvjp(_matmul_fwd, _matmul_bwd)


def cpu_tuned() -> bool:
  """Whether the CPU-shaped kernels apply (`jax.default_backend()` is 'cpu').

  `matmul`'s and `original_scan`'s backward passes are written for XLA's CPU
  backend; on GPU and TPU the plain jitted code (`plain_matmul`,
  `autodiff_original_scan`) runs, with bfloat16 operands still an option.
  """
  return jax.default_backend() == 'cpu'


def plain_matmul(x_NxK: jax.Array, w_KxM: jax.Array, dtype: str = 'float32') -> jax.Array:
  """`matmul` with JAX's own backward pass (what runs off the CPU)."""
  dt = MATMUL_DTYPES[dtype]
  return jnp.matmul(x_NxK.astype(dt), w_KxM.astype(dt), preferred_element_type=jnp.float32)


def dot_general_for(dtype: str) -> Callable[..., jax.Array]:
  """A `dot_general` for nn.Dense that runs `matmul` (`plain_matmul` off the CPU) with
  operands of `dtype`."""
  matmul_fn = matmul if cpu_tuned() else plain_matmul

  def dot_general(lhs, rhs, dimension_numbers, precision=None,
                  preferred_element_type=None):
    del precision, preferred_element_type  # Always float32 accumulation.
    if tuple(map(tuple, dimension_numbers[0])) != ((lhs.ndim - 1,), (0,)) or any(
        dimension_numbers[1]):
      raise ValueError(f'matmul handles x @ w only, got {dimension_numbers}.')
    return matmul_fn(lhs, rhs, dtype)
  return dot_general


@jax.custom_vjp
def original_scan(h0_BxH: jax.Array, z_TxBxH: jax.Array, scale_H: jax.Array,
                  cos_phase_H: jax.Array, sin_phase_H: jax.Array) -> jax.Array:
  """All states [T, B, H] of `original_recurrence` over time, from h0.

  Equal to `scan_time` over `original_recurrence`, computed so that XLA's CPU
  backend wastes nothing (each choice measured; docs/BENCHMARKS.md):
  - the states overwrite the drive z in place, one step at a time (a scan's
    stacked outputs would each cost a zero-filled [T, B, H] buffer per call);
  - a hand-written backward pass: autodiff of the scan stores every
    intermediate of every step, which made training ~20x slower. The
    backward pass computes every step's da_t/dh_{t-1} (diagonal) from the
    stored states at once, then runs one reverse loop of a multiply-add per element
    (a linear recurrence), writing the gradient on z over the incoming
    gradient, again in place (3-5% faster a train step than recomputing the
    Jacobian inside the loop).
  """
  return _original_states_in_place(h0_BxH, z_TxBxH, scale_H, cos_phase_H, sin_phase_H)


def _time_slice(buffer_TxBxH: jax.Array, t: jax.Array) -> jax.Array:
  """buffer[t] for 0 <= t < T (no negative-index wrap-around to compute)."""
  return jax.lax.dynamic_slice_in_dim(buffer_TxBxH, t, 1, 0, allow_negative_indices=False)[0]


def _time_update(buffer_TxBxH: jax.Array, row_BxH: jax.Array, t: jax.Array) -> jax.Array:
  """buffer with buffer[t] = row, for 0 <= t < T (in place inside XLA)."""
  return jax.lax.dynamic_update_slice_in_dim(buffer_TxBxH, row_BxH[None], t, 0,
                                             allow_negative_indices=False)


def _original_states_in_place(h0_BxH, z_TxBxH, scale_H, cos_phase_H, sin_phase_H):
  """h_t for t = 0..T-1, written over z_t (z_t is read before it is replaced)."""
  def step(t, carry):
    h_BxH, buffer_TxBxH = carry
    h_BxH = recurrences.original_recurrence(h_BxH, _time_slice(buffer_TxBxH, t), scale_H, cos_phase_H,
                            sin_phase_H)
    return h_BxH, _time_update(buffer_TxBxH, h_BxH, t)
  return jax.lax.fori_loop(0, z_TxBxH.shape[0], step, (h0_BxH, z_TxBxH))[1]


def _original_scan_fwd(h0, z, scale, cos_phase, sin_phase):
  hs = _original_states_in_place(h0, z, scale, cos_phase, sin_phase)
  return hs, (h0, hs, scale, cos_phase, sin_phase)


def original_backward_terms(h0_BxH: jax.Array, hs_TxBxH: jax.Array, scale_H: jax.Array,
                        cos_phase_H: jax.Array, sin_phase_H: jax.Array
                        ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """What original_scan's backward pass needs from the states, for all t at once.

  Returns [T, B, H] arrays: h_{t-1} (h0 at t = 0), cos(phase + h_{t-1}) and
  J_t = da_t/dh_{t-1} = s (cos(phase + h_{t-1}) - h_{t-1} sin(phase + h_{t-1})),
  with a_t the pre-activation of h_t = tanh(a_t).
  """
  h_prev_TxBxH = jnp.concatenate([h0_BxH[None], hs_TxBxH[:-1]], axis=0)
  rotation, d_rotation = recurrences.rotation(h_prev_TxBxH, cos_phase_H, sin_phase_H)
  return h_prev_TxBxH, rotation, scale_H * (rotation + h_prev_TxBxH * d_rotation)


def _original_scan_bwd(residuals, g_TxBxH):
  """Reverse pass as a linear recurrence over the pre-activation gradients.

  With a_t = z_t + s h_{t-1} cos(phase + h_{t-1}) and h_t = tanh(a_t):
    dh_t/dh_{t-1} = (1 - h_t^2) J_t,  J_t = s (cos(phase + h_{t-1})
                                              - h_{t-1} sin(phase + h_{t-1})),
    dL/da_t = (1 - h_t^2) (g_t + J_{t+1} dL/da_{t+1}),
  which is also the gradient on z_t; dL/ds = sum_t,b dL/da_t h_{t-1} cos(phase + h_{t-1}).
  J depends on the forward states only, so it is computed for all t at once
  (one parallel pass, which XLA may overlap with other work); the sequential
  loop is then one multiply-add per element and step, written over g in place.
  """
  h0, hs, scale, cos_phase, sin_phase = residuals
  num_steps = hs.shape[0]
  h_prev_TxBxH, rotation, jacobian_TxBxH = original_backward_terms(h0, hs, scale, cos_phase,
                                                               sin_phase)
  next_jacobian_TxBxH = jnp.concatenate(
      [jacobian_TxBxH[1:], jnp.zeros_like(jacobian_TxBxH[:1])], axis=0)

  def step(i, loop_carry):  # t = T-1 .. 0.
    t = num_steps - 1 - i
    g_a_BxH, buffer_TxBxH = loop_carry  # g_a_BxH: dL/da_{t+1} on entry.
    h_t = _time_slice(hs, t)
    g_a_BxH = (1.0 - h_t * h_t) * (_time_slice(buffer_TxBxH, t)
                                   + _time_slice(next_jacobian_TxBxH, t) * g_a_BxH)
    return g_a_BxH, _time_update(buffer_TxBxH, g_a_BxH, t)
  _, g_a_TxBxH = jax.lax.fori_loop(0, num_steps, step, (jnp.zeros_like(h0), g_TxBxH))
  g_h0 = jacobian_TxBxH[0] * g_a_TxBxH[0]
  g_scale_H = jnp.sum(g_a_TxBxH * h_prev_TxBxH * rotation, axis=(0, 1))
  return (g_h0, g_a_TxBxH, g_scale_H, jnp.zeros_like(cos_phase), jnp.zeros_like(sin_phase))


original_scan.defvjp(_original_scan_fwd, _original_scan_bwd)


# Time steps per iteration of the small scans (the original cell's autodiff scan,
# sampling) off the CPU. Each iteration of an XLA while loop on a GPU launches the
# body's kernels (and may sync its trip condition with the host), so unrolling a
# small body amortises that; on the CPU a loop iteration is cheap and 1 measured
# no slower (docs: /work/notes/jax_fixes.md, merged into docs/BENCHMARKS.md). 8 is
# the usual choice, not measured here (no GPU); the layers' own scans take
# ModelConfig.unroll instead (--config.model.unroll=8 on a GPU).
OFF_CPU_UNROLL = 8


def default_unroll() -> int:
  """Scan unroll for small bodies: 1 on the CPU backend, OFF_CPU_UNROLL elsewhere
  (read at trace time from `jax.default_backend()`)."""
  return 1 if cpu_tuned() else OFF_CPU_UNROLL


def scan_time(body: Callable[[Any, jax.Array], Any], carry: Any, z_TxBx: jax.Array,
              unroll: int = 1) -> tuple[Any, jax.Array]:
  """Runs `carry <- body(carry, z_t)` over axis 0; returns (last carry, outputs).

  The output at t is the carry's last leaf (the hidden state h_t): [T, B, H].
  """
  def step(c, z_t):
    c = body(c, z_t)
    return c, jax.tree_util.tree_leaves(c)[-1]
  return jax.lax.scan(step, carry, z_TxBx, unroll=unroll)


def associative_linear_scan(h0_BxN: jax.Array, b_TxBxN: jax.Array,
                            lam_N: jax.Array) -> jax.Array:
  """All states of h_t = lam * h_{t-1} + b_t in O(log T) depth: [T, B, N]."""
  b_TxBxN = b_TxBxN.at[0].add(lam_N * h0_BxN)
  a_TxBxN = jnp.broadcast_to(lam_N, b_TxBxN.shape)

  def combine(left, right):
    a_l, b_l = left
    a_r, b_r = right
    return a_l * a_r, a_r * b_l + b_r
  return jax.lax.associative_scan(combine, (a_TxBxN, b_TxBxN), axis=0)[1]


def autodiff_original_scan(h0_BxH: jax.Array, z_TxBxH: jax.Array, scale_H: jax.Array,
                           cos_phase_H: jax.Array, sin_phase_H: jax.Array,
                           unroll: int | None = None) -> jax.Array:
  """`original_scan` as one `lax.scan` with JAX's own backward pass (off the CPU);
  `unroll` None: `default_unroll()`."""
  body = lambda h, z: recurrences.original_recurrence(h, z, scale_H, cos_phase_H, sin_phase_H)
  return scan_time(body, h0_BxH, z_TxBxH,
                   unroll=default_unroll() if unroll is None else unroll)[1]


def default_original_scan() -> Callable[..., jax.Array]:
  """`original_scan` on the CPU backend, `autodiff_original_scan` elsewhere."""
  return original_scan if cpu_tuned() else autodiff_original_scan
