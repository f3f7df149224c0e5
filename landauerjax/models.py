"""Landauer LM variants as Flax modules with explicit state and pure recurrences.

Every variant is an embedding, a stack of recurrent layers and a linear head.
Each layer splits into
  * a *drive*: everything that depends on the layer input only (projections,
    MLPs). It is applied to the whole [B, T, ...] sequence at once, as one
    large matmul, outside the time loop;
  * a *recurrence*: a pure scan body `(h, z_t) -> (h, h)` over time, run by one
    `lax.scan` (or `lax.associative_scan` for the linear `phasor` layers).
`LandauerLM.__call__` runs whole sequences; `LandauerLM.step` runs one token
with the same parameters, for O(1)-memory generation. Tests check that the two
agree.

Variants (`ModelConfig.variant`):
  seed    The original cell, exactly:  h_l <- tanh(W_l u + b_l + s_l * h_l *
          cos(phi_l * k + h_l)), phi_l = phi_0 / c**l, k the unit index.
  phasor  Ours: a linear complex diagonal recurrence h <- lambda * h + B u whose
          rotation angles start at golden-angle spacing and shrink by c**l with
          depth (harmonic stacking); LayerNorm, residual MLP between layers.
          Linear in h, so it can run as a parallel associative scan.
  lstm, gru  Baselines.

Shapes: B batch, T time, V vocabulary, E embedding, H hidden (state) size.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from landauerjax import constants

VARIANTS = ('seed', 'phasor', 'lstm', 'gru')
Carry = tuple[Any, ...]  # One state pytree per layer.


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyperparameters of `LandauerLM`. Override with `dataclasses.replace`."""

  vocab_size: int = 65
  variant: str = 'seed'
  embed_dim: int = 64
  hidden_dim: int = 256
  num_layers: int = 2
  phase_scaling: float = 2.0  # c: layer l rotates with phi_0 / c**l.
  base_phase: float = constants.GOLDEN_ANGLE  # phi_0, radians.
  # phasor only.
  model_dim: int = 256  # Width of the residual stream (embedding = model_dim).
  mlp_ratio: int = 2
  r_min: float = 0.9  # Initial |lambda| range: memory of 1/(1-r) steps.
  r_max: float = 0.999
  max_phase: float = math.pi  # Layer-0 rotations spread over [0, max_phase).
  dropout: float = 0.0  # On each residual branch, in training only.
  scan: str = 'sequential'  # or 'associative'.
  # Time steps per scan iteration; >1 trades compile time for speed on CPU.
  unroll: int = 1
  # Operand type of the feed-forward matmuls (projections, MLPs, head):
  # 'float32' or 'bfloat16' (float32 parameters and accumulation). Recurrent
  # state updates always run in float32.
  matmul_dtype: str = 'float32'

  def __post_init__(self):
    if self.variant not in VARIANTS:
      raise ValueError(
          f'Unknown model variant {self.variant!r}; expected one of {VARIANTS}.')
    if self.scan not in ('sequential', 'associative'):
      raise ValueError(f"scan must be 'sequential' or 'associative', got {self.scan!r}.")
    if self.matmul_dtype not in MATMUL_DTYPES:
      raise ValueError(f'matmul_dtype must be one of {sorted(MATMUL_DTYPES)}, '
                       f'got {self.matmul_dtype!r}.')
    for name in ('vocab_size', 'embed_dim', 'hidden_dim', 'num_layers', 'model_dim'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be positive, got {getattr(self, name)}.')


def torch_uniform(fan_in: int) -> Callable[..., jax.Array]:
  """PyTorch's default Linear/RNN init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
      key, shape, dtype, -bound, bound)


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
  measured 3-11% faster a train step than the blocks (seed defaults: 2048
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


def dot_general_for(dtype: str) -> Callable[..., jax.Array]:
  """A `dot_general` for nn.Dense that runs `matmul` with operands of `dtype`."""
  def dot_general(lhs, rhs, dimension_numbers, precision=None,
                  preferred_element_type=None):
    del precision, preferred_element_type  # Always float32 accumulation.
    if tuple(map(tuple, dimension_numbers[0])) != ((lhs.ndim - 1,), (0,)) or any(
        dimension_numbers[1]):
      raise ValueError(f'matmul handles x @ w only, got {dimension_numbers}.')
    return matmul(lhs, rhs, dtype)
  return dot_general


def dense(features: int, fan_in: int, name: str | None = None,
          matmul_dtype: str = 'float32') -> nn.Dense:
  """nn.Dense with PyTorch's init, computed by `matmul`."""
  return nn.Dense(features, kernel_init=torch_uniform(fan_in),
                  bias_init=torch_uniform(fan_in), name=name,
                  dot_general=dot_general_for(matmul_dtype))


# ---------------------------------------------------------------------------
# Pure recurrences: (h, z_t) -> h_new. Everything time-independent is in z_t.
# ---------------------------------------------------------------------------


def _sin_cos_unit(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """sin(x), cos(x) for |x| <= 1 by Taylor polynomials (error < 1e-12).

  XLA's CPU cos/sin are ~10x slower than tanh; these are plain multiply-adds.
  """
  x2 = x * x
  sin, cos = 0.0, 0.0
  for n in range(13, 0, -2):  # Horner in x^2 up to x^13 and x^14.
    sin = 1.0 / math.factorial(n) - x2 * sin
    cos = 1.0 / math.factorial(n + 1) - x2 * cos
  return x * sin, 1.0 - x2 * cos


def _rotation(h_BxH: jax.Array, cos_phase_H: jax.Array, sin_phase_H: jax.Array
              ) -> tuple[jax.Array, jax.Array]:
  """cos(phase + h) and its derivative in h, -sin(phase + h), for |h| <= 1."""
  sin_h, cos_h = _sin_cos_unit(h_BxH)
  return (cos_phase_H * cos_h - sin_phase_H * sin_h,
          -(sin_phase_H * cos_h + cos_phase_H * sin_h))


def seed_recurrence(h_BxH: jax.Array, z_BxH: jax.Array, scale_H: jax.Array,
                    cos_phase_H: jax.Array, sin_phase_H: jax.Array) -> jax.Array:
  """The original cell: tanh(z + s * h * cos(phase + h)), phase_k = phi_l * k.

  cos(phase + h) = cos(phase) cos(h) - sin(phase) sin(h), with the phase terms
  precomputed per unit and |h| <= 1 (h is a tanh output or the zero state).
  """
  rotation = _rotation(h_BxH, cos_phase_H, sin_phase_H)[0]
  return jnp.tanh(z_BxH + scale_H * h_BxH * rotation)


@jax.custom_vjp
def seed_scan(h0_BxH: jax.Array, z_TxBxH: jax.Array, scale_H: jax.Array,
              cos_phase_H: jax.Array, sin_phase_H: jax.Array) -> jax.Array:
  """All states [T, B, H] of `seed_recurrence` over time, from h0.

  Equal to `scan_time` over `seed_recurrence`, computed so that XLA's CPU
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
  return _seed_states_in_place(h0_BxH, z_TxBxH, scale_H, cos_phase_H, sin_phase_H)


def _time_slice(buffer_TxBxH: jax.Array, t: jax.Array) -> jax.Array:
  """buffer[t] for 0 <= t < T (no negative-index wrap-around to compute)."""
  return jax.lax.dynamic_slice_in_dim(buffer_TxBxH, t, 1, 0, allow_negative_indices=False)[0]


def _time_update(buffer_TxBxH: jax.Array, row_BxH: jax.Array, t: jax.Array) -> jax.Array:
  """buffer with buffer[t] = row, for 0 <= t < T (in place inside XLA)."""
  return jax.lax.dynamic_update_slice_in_dim(buffer_TxBxH, row_BxH[None], t, 0,
                                             allow_negative_indices=False)


def _seed_states_in_place(h0_BxH, z_TxBxH, scale_H, cos_phase_H, sin_phase_H):
  """h_t for t = 0..T-1, written over z_t (z_t is read before it is replaced)."""
  def step(t, carry):
    h_BxH, buffer_TxBxH = carry
    h_BxH = seed_recurrence(h_BxH, _time_slice(buffer_TxBxH, t), scale_H, cos_phase_H,
                            sin_phase_H)
    return h_BxH, _time_update(buffer_TxBxH, h_BxH, t)
  return jax.lax.fori_loop(0, z_TxBxH.shape[0], step, (h0_BxH, z_TxBxH))[1]


def _seed_scan_fwd(h0, z, scale, cos_phase, sin_phase):
  hs = _seed_states_in_place(h0, z, scale, cos_phase, sin_phase)
  return hs, (h0, hs, scale, cos_phase, sin_phase)


def seed_backward_terms(h0_BxH: jax.Array, hs_TxBxH: jax.Array, scale_H: jax.Array,
                        cos_phase_H: jax.Array, sin_phase_H: jax.Array
                        ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """What seed_scan's backward pass needs from the states, for all t at once.

  Returns [T, B, H] arrays: h_{t-1} (h0 at t = 0), cos(phase + h_{t-1}) and
  J_t = da_t/dh_{t-1} = s (cos(phase + h_{t-1}) - h_{t-1} sin(phase + h_{t-1})),
  with a_t the pre-activation of h_t = tanh(a_t).
  """
  h_prev_TxBxH = jnp.concatenate([h0_BxH[None], hs_TxBxH[:-1]], axis=0)
  rotation, d_rotation = _rotation(h_prev_TxBxH, cos_phase_H, sin_phase_H)
  return h_prev_TxBxH, rotation, scale_H * (rotation + h_prev_TxBxH * d_rotation)


def _seed_scan_bwd(residuals, g_TxBxH):
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
  h_prev_TxBxH, rotation, jacobian_TxBxH = seed_backward_terms(h0, hs, scale, cos_phase,
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


seed_scan.defvjp(_seed_scan_fwd, _seed_scan_bwd)


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


# ---------------------------------------------------------------------------
# Layers: drive (whole sequence) + recurrence (per step).
# ---------------------------------------------------------------------------


class _RecurrentLayer(nn.Module):
  """Shared parts of seed/LSTM/GRU layers: drive = input_proj, output = state."""

  def drive(self, u: jax.Array) -> jax.Array:
    return self.input_proj(u)

  def output(self, h: jax.Array, u: jax.Array, train: bool = False) -> jax.Array:
    del u, train
    return h

  def scan(self, carry: Any, z_TxBx: jax.Array, unroll: int = 1) -> tuple[Any, jax.Array]:
    return scan_time(self.body(), carry, z_TxBx, unroll=unroll)


class SeedLayer(_RecurrentLayer):
  """One layer of the original aperiodic stack; phase phi_l = phi_0 / c**l."""

  hidden_dim: int
  in_dim: int
  phase: float
  matmul_dtype: str = 'float32'

  def setup(self):
    self.input_proj = dense(self.hidden_dim, self.in_dim, matmul_dtype=self.matmul_dtype)
    self.scale = self.param('scale', nn.initializers.ones, (self.hidden_dim,))

  def phase_terms(self) -> tuple[jax.Array, jax.Array]:
    """cos and sin of phi_l * k for the units k = 0..H-1: ([H], [H]).

    Computed in NumPy, so they enter XLA as constants. As traced values, XLA
    fused `cos` into each [T, B, H] kernel of seed_scan's backward pass that
    used them and evaluated it once per element: the train step took 1.5x as long.
    """
    phase_H = np.float32(self.phase) * np.arange(self.hidden_dim, dtype=np.float32)
    return jnp.asarray(np.cos(phase_H)), jnp.asarray(np.sin(phase_H))

  def body(self) -> Callable[[jax.Array, jax.Array], jax.Array]:
    cos_phase, sin_phase = self.phase_terms()
    return lambda h, z: seed_recurrence(h, z, self.scale, cos_phase, sin_phase)

  def scan(self, h0: jax.Array, z_TxBxH: jax.Array, unroll: int = 1
           ) -> tuple[jax.Array, jax.Array]:
    del unroll  # seed_scan has its own backward pass; it always scans one step at a time.
    hs = seed_scan(h0, z_TxBxH, self.scale, *self.phase_terms())
    return hs[-1], hs


class LSTMLayer(_RecurrentLayer):
  hidden_dim: int
  in_dim: int
  matmul_dtype: str = 'float32'

  def setup(self):
    self.input_proj = dense(4 * self.hidden_dim, self.in_dim, matmul_dtype=self.matmul_dtype)
    self.w_hh = self.param('w_hh', torch_uniform(self.hidden_dim),
                           (self.hidden_dim, 4 * self.hidden_dim))

  def body(self):
    return lambda c, z: lstm_recurrence(c, z, self.w_hh)


class GRULayer(_RecurrentLayer):
  hidden_dim: int
  in_dim: int
  matmul_dtype: str = 'float32'

  def setup(self):
    self.input_proj = dense(3 * self.hidden_dim, self.in_dim, matmul_dtype=self.matmul_dtype)
    init = torch_uniform(self.hidden_dim)
    self.w_hh = self.param('w_hh', init, (self.hidden_dim, 3 * self.hidden_dim))
    self.b_hh = self.param('b_hh', init, (3 * self.hidden_dim,))

  def body(self):
    return lambda h, z: gru_recurrence(h, z, self.w_hh, self.b_hh)


def golden_phases(num: int, max_phase: float, level: int, scaling: float) -> jax.Array:
  """Aperiodic rotation angles: frac(k * golden / 2pi) * max_phase / c**level."""
  k = jnp.arange(num, dtype=jnp.float32)
  frac = jnp.mod(k * constants.GOLDEN_ANGLE, 2 * math.pi) / (2 * math.pi)
  return frac * max_phase / scaling**level


class PhasorLayer(nn.Module):
  """Pre-norm residual block: complex rotation recurrence, then an MLP.

  lambda_k = exp(-exp(nu_k) + i theta_k), theta at golden-angle spacing shrunk
  by c**level; |lambda| starts uniformly in [r_min, r_max]. The input to the
  state is scaled by sqrt(1 - |lambda|^2) so states start with unit variance.
  """

  model_dim: int
  state_dim: int
  mlp_ratio: int
  level: int
  phase_scaling: float
  max_phase: float
  r_min: float
  r_max: float
  associative: bool = False  # lax.associative_scan instead of lax.scan.
  dropout: float = 0.0
  matmul_dtype: str = 'float32'

  def setup(self):
    n = self.state_dim
    dot_general = dot_general_for(self.matmul_dtype)

    def nu_init(key, shape):
      u = jax.random.uniform(key, shape)
      r = jnp.sqrt(u * (self.r_max**2 - self.r_min**2) + self.r_min**2)
      return jnp.log(-jnp.log(r))
    self.nu = self.param('nu', nu_init, (n,))
    self.theta = self.param(
        'theta', lambda key, shape: golden_phases(
            shape[0], self.max_phase, self.level, self.phase_scaling), (n,))
    self.norm = nn.LayerNorm()
    self.in_proj = nn.Dense(2 * n, kernel_init=nn.initializers.lecun_normal(),
                            dot_general=dot_general)
    self.out_proj = nn.Dense(self.model_dim, kernel_init=nn.initializers.lecun_normal(),
                             dot_general=dot_general)
    self.mlp_norm = nn.LayerNorm()
    self.mlp_up = nn.Dense(2 * self.mlp_ratio * self.model_dim, dot_general=dot_general)
    self.mlp_down = nn.Dense(self.model_dim, kernel_init=nn.initializers.zeros,
                             dot_general=dot_general)
    self.drop = nn.Dropout(self.dropout)

  def lam(self) -> jax.Array:
    return jnp.exp(-jnp.exp(self.nu) + 1j * self.theta)


  def drive(self, u: jax.Array) -> jax.Array:
    re, im = jnp.split(self.in_proj(self.norm(u)), 2, axis=-1)
    gain = jnp.sqrt(1.0 - jnp.abs(self.lam())**2)
    return (re + 1j * im) * gain

  def body(self):
    lam = self.lam()
    return lambda h, b: linear_recurrence(h, b, lam)

  def scan(self, h0: jax.Array, b_TxBxN: jax.Array, unroll: int = 1
           ) -> tuple[jax.Array, jax.Array]:
    if self.associative:
      hs = associative_linear_scan(h0, b_TxBxN, self.lam())
      return hs[-1], hs
    return scan_time(self.body(), h0, b_TxBxN, unroll=unroll)

  def output(self, h: jax.Array, u: jax.Array, train: bool = False) -> jax.Array:
    mixed = self.out_proj(jnp.concatenate([h.real, h.imag], axis=-1))
    x = u + self.drop(mixed, deterministic=not train)
    gate, value = jnp.split(self.mlp_up(self.mlp_norm(x)), 2, axis=-1)
    return x + self.drop(self.mlp_down(jax.nn.gelu(gate) * value), deterministic=not train)


class LandauerLM(nn.Module):
  """Embedding -> recurrent layers -> head. See the module docstring."""

  config: ModelConfig

  def setup(self):
    cfg = self.config
    if cfg.variant == 'phasor':
      width = cfg.model_dim
      self.embed = nn.Embed(cfg.vocab_size, width)
      self.layers = [
          PhasorLayer(width, cfg.hidden_dim, cfg.mlp_ratio, l, cfg.phase_scaling,
                      cfg.max_phase, cfg.r_min, cfg.r_max,
                      associative=cfg.scan == 'associative', dropout=cfg.dropout,
                      matmul_dtype=cfg.matmul_dtype,
                      name=f'layer_{l}')
          for l in range(cfg.num_layers)]
      self.final_norm = nn.LayerNorm()
      self.head = nn.Dense(cfg.vocab_size, dot_general=dot_general_for(cfg.matmul_dtype))
      return
    self.embed = nn.Embed(cfg.vocab_size, cfg.embed_dim,
                          embedding_init=nn.initializers.normal(1.0))
    layers = []
    for l in range(cfg.num_layers):
      in_dim = cfg.embed_dim if l == 0 else cfg.hidden_dim
      if cfg.variant == 'seed':
        phase = cfg.base_phase / cfg.phase_scaling**l
        layers.append(SeedLayer(cfg.hidden_dim, in_dim, phase, cfg.matmul_dtype,
                                name=f'layer_{l}'))
      elif cfg.variant == 'lstm':
        layers.append(LSTMLayer(cfg.hidden_dim, in_dim, cfg.matmul_dtype, name=f'layer_{l}'))
      else:
        layers.append(GRULayer(cfg.hidden_dim, in_dim, cfg.matmul_dtype, name=f'layer_{l}'))
    self.layers = layers
    self.final_norm = lambda x: x
    self.head = dense(cfg.vocab_size, cfg.hidden_dim, name='head',
                      matmul_dtype=cfg.matmul_dtype)


  def __call__(self, tokens_BxT: jax.Array, carry: Carry, train: bool = False
               ) -> tuple[jax.Array, jax.Array, Carry]:
    """Runs whole sequences from state `carry`.

    With train=True, dropout (phasor, config.dropout > 0) is active and needs
    a 'dropout' PRNG stream.

    Returns:
      logits_BxTxV, top_BxTxD (the top layer's output, used by the inertia
      penalty), and the carry after the last step.
    """
    cfg = self.config
    tokens_TxB = tokens_BxT.T  # Time-major inside: scans need no transposes.
    new_carry = []
    u, z = self._first_drive(tokens_TxB)
    for l, (layer, c) in enumerate(zip(self.layers, carry)):
      if l > 0:
        z = layer.drive(u)
      c, h = layer.scan(c, z, unroll=cfg.unroll)
      new_carry.append(c)
      u = layer.output(h, u, train)
    logits = self.head(self.final_norm(u))
    return jnp.swapaxes(logits, 0, 1), jnp.swapaxes(u, 0, 1), tuple(new_carry)

  def _first_drive(self, tokens: jax.Array) -> tuple[jax.Array | None, jax.Array]:
    """(embedding, layer-0 drive) of int tokens of any shape [...] -> [..., *].

    seed/lstm/gru layers see the embedding only through their input
    projection, which is linear: drive(E[tokens]) = drive(E)[tokens]. Those
    variants gather rows of the [V, H] table drive(E) instead of projecting
    B*T embeddings (~15% of the training step's matmul FLOPs at the seed
    defaults), and return no embedding (their outputs ignore it).
    """
    first = self.layers[0]
    if self.config.variant == 'phasor':
      u = self.embed(tokens)
      return u, first.drive(u)
    table_VxH = first.drive(self.embed.embedding)
    return None, jnp.take(table_VxH, tokens, axis=0)

  def step(self, carry: Carry, token_B: jax.Array
           ) -> tuple[Carry, jax.Array, jax.Array]:
    """One token per sequence: (carry, int[B]) -> (carry, logits_BxV, top_BxD)."""
    new_carry = []
    u, z = self._first_drive(token_B)
    for l, (layer, c) in enumerate(zip(self.layers, carry)):
      if l > 0:
        z = layer.drive(u)
      c = layer.body()(c, z)
      new_carry.append(c)
      u = layer.output(jax.tree_util.tree_leaves(c)[-1], u)
    return tuple(new_carry), self.head(self.final_norm(u)), u


def init_params(config: ModelConfig, key: jax.Array) -> Any:
  """Initial parameters for `config` (a [1, 1] dummy batch fixes no shapes)."""
  tokens = jnp.zeros((1, 1), jnp.int32)
  variables = LandauerLM(config).init(key, tokens, initial_state(config, 1))
  return variables['params']


def initial_state(config: ModelConfig, batch_size: int) -> Carry:
  """The zero state: one pytree per layer, [B, H] each (complex for phasor).

  Needs no parameters; lstm layers carry (cell, hidden).
  """
  zeros = jnp.zeros((batch_size, config.hidden_dim))
  if config.variant == 'phasor':
    zeros = zeros.astype(jnp.complex64)
  layer_state = (zeros, zeros) if config.variant == 'lstm' else zeros
  return tuple(layer_state for _ in range(config.num_layers))


def count_params(params: Any) -> int:
  return sum(x.size for x in jax.tree_util.tree_leaves(params))
