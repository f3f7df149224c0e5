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

The cells' equations are in `landauerjax.recurrences`, their scans and custom
VJPs in `landauerjax.kernels`; this module holds the config, layers and LM.

Variants (`ModelConfig.variant`):
  original  The original cell, exactly:  h_l <- tanh(W_l u + b_l + s_l * h_l *
          cos(phi_l * k + h_l)), phi_l = phi_0 / c**l, k the unit index.
          (Spelled 'seed' before; that spelling still works.)
  phasor  Ours: a linear complex diagonal recurrence h <- lambda * h + B u whose
          rotation angles start at golden-angle spacing and shrink by c**l with
          depth (harmonic stacking); LayerNorm, residual MLP between layers.
          Linear in h, so it can run as a parallel associative scan.
  lstm, gru  Baselines.

Shapes: B batch, T time, V vocabulary, E embedding, H hidden (state) size.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from landauerjax import constants
from landauerjax import kernels
from landauerjax import recurrences

VARIANTS = ('original', 'phasor', 'lstm', 'gru')
# Old spellings still accepted (the variant 'seed' collided with the PRNG seed).
VARIANT_ALIASES = {'seed': 'original'}
Carry = tuple[Any, ...]  # One state pytree per layer.


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyperparameters of `LandauerLM`. Override with `dataclasses.replace`."""

  vocab_size: int = 65
  variant: str = 'original'
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
    if self.variant in VARIANT_ALIASES:
      object.__setattr__(self, 'variant', VARIANT_ALIASES[self.variant])
    if self.variant not in VARIANTS:
      raise ValueError(
          f'Unknown model variant {self.variant!r}; expected one of {VARIANTS}.')
    if self.scan not in ('sequential', 'associative'):
      raise ValueError(f"scan must be 'sequential' or 'associative', got {self.scan!r}.")
    if self.matmul_dtype not in kernels.MATMUL_DTYPES:
      raise ValueError(f'matmul_dtype must be one of {sorted(kernels.MATMUL_DTYPES)}, '
                       f'got {self.matmul_dtype!r}.')
    for name in ('vocab_size', 'embed_dim', 'hidden_dim', 'num_layers', 'model_dim'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be positive, got {getattr(self, name)}.')


def torch_uniform(fan_in: int) -> Callable[..., jax.Array]:
  """PyTorch's default Linear/RNN init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
      key, shape, dtype, -bound, bound)


def dense(features: int, fan_in: int, name: str | None = None,
          matmul_dtype: str = 'float32') -> nn.Dense:
  """nn.Dense with PyTorch's init, computed by `matmul`."""
  return nn.Dense(features, kernel_init=torch_uniform(fan_in),
                  bias_init=torch_uniform(fan_in), name=name,
                  dot_general=kernels.dot_general_for(matmul_dtype))


# ---------------------------------------------------------------------------
# Layers: drive (whole sequence) + recurrence (per step).
# ---------------------------------------------------------------------------


class _RecurrentLayer(nn.Module):
  """Shared parts of original/LSTM/GRU layers: drive = input_proj, output = state."""

  def drive(self, u: jax.Array) -> jax.Array:
    return self.input_proj(u)

  def output(self, h: jax.Array, u: jax.Array, train: bool = False) -> jax.Array:
    del u, train
    return h

  def scan(self, carry: Any, z_TxBx: jax.Array, unroll: int = 1) -> tuple[Any, jax.Array]:
    return kernels.scan_time(self.body(), carry, z_TxBx, unroll=unroll)


class OriginalLayer(_RecurrentLayer):
  """One layer of the original aperiodic stack; phase phi_l = phi_0 / c**l."""

  hidden_dim: int
  in_dim: int
  phase: float
  matmul_dtype: str = 'float32'
  # All states [T, B, H] from (h0, z, scale, cos_phase, sin_phase): a drop-in for
  # kernels.original_scan (benchmarks pass ablated ones); None: the backend's
  # default (kernels.default_original_scan).
  scan_fn: Callable[..., jax.Array] | None = None

  def setup(self):
    self.input_proj = dense(self.hidden_dim, self.in_dim, matmul_dtype=self.matmul_dtype)
    self.scale = self.param('scale', nn.initializers.ones, (self.hidden_dim,))

  def phase_terms(self) -> tuple[jax.Array, jax.Array]:
    """cos and sin of phi_l * k for the units k = 0..H-1: ([H], [H]).

    Computed in NumPy, so they enter XLA as constants. As traced values, XLA
    fused `cos` into each [T, B, H] kernel of original_scan's backward pass that
    used them and evaluated it once per element: the train step took 1.5x as long.
    """
    phase_H = np.float32(self.phase) * np.arange(self.hidden_dim, dtype=np.float32)
    return jnp.asarray(np.cos(phase_H)), jnp.asarray(np.sin(phase_H))

  def body(self) -> Callable[[jax.Array, jax.Array], jax.Array]:
    cos_phase, sin_phase = self.phase_terms()
    return lambda h, z: recurrences.original_recurrence(h, z, self.scale, cos_phase, sin_phase)

  def scan(self, h0: jax.Array, z_TxBxH: jax.Array, unroll: int = 1
           ) -> tuple[jax.Array, jax.Array]:
    del unroll  # original_scan has its own backward pass; it always scans one step at a time.
    scan_fn = self.scan_fn or kernels.default_original_scan()
    hs = scan_fn(h0, z_TxBxH, self.scale, *self.phase_terms())
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
    return lambda c, z: recurrences.lstm_recurrence(c, z, self.w_hh)


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
    return lambda h, z: recurrences.gru_recurrence(h, z, self.w_hh, self.b_hh)


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
    dot_general = kernels.dot_general_for(self.matmul_dtype)

    def nu_init(key, shape):
      u = jax.random.uniform(key, shape)
      r = jnp.sqrt(u * (self.r_max**2 - self.r_min**2) + self.r_min**2)
      return jnp.log(-jnp.log(r))
    self.nu = self.param('nu', nu_init, (n,))
    self.theta = self.param(
        'theta', lambda key, shape: recurrences.golden_phases(
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
    return lambda h, b: recurrences.linear_recurrence(h, b, lam)

  def scan(self, h0: jax.Array, b_TxBxN: jax.Array, unroll: int = 1
           ) -> tuple[jax.Array, jax.Array]:
    if self.associative:
      hs = kernels.associative_linear_scan(h0, b_TxBxN, self.lam())
      return hs[-1], hs
    return kernels.scan_time(self.body(), h0, b_TxBxN, unroll=unroll)

  def output(self, h: jax.Array, u: jax.Array, train: bool = False) -> jax.Array:
    mixed = self.out_proj(jnp.concatenate([h.real, h.imag], axis=-1))
    x = u + self.drop(mixed, deterministic=not train)
    gate, value = jnp.split(self.mlp_up(self.mlp_norm(x)), 2, axis=-1)
    return x + self.drop(self.mlp_down(jax.nn.gelu(gate) * value), deterministic=not train)


class LandauerLM(nn.Module):
  """Embedding -> recurrent layers -> head. See the module docstring.

  `original_scan` runs the original layers over time (default: the backend's,
  kernels.default_original_scan; benchmarks pass ablated ones).
  """

  config: ModelConfig
  original_scan: Callable[..., jax.Array] | None = None

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
      self.head = nn.Dense(cfg.vocab_size, dot_general=kernels.dot_general_for(cfg.matmul_dtype))
      return
    self.embed = nn.Embed(cfg.vocab_size, cfg.embed_dim,
                          embedding_init=nn.initializers.normal(1.0))
    layers = []
    for l in range(cfg.num_layers):
      in_dim = cfg.embed_dim if l == 0 else cfg.hidden_dim
      if cfg.variant == 'original':
        phase = cfg.base_phase / cfg.phase_scaling**l
        layers.append(OriginalLayer(cfg.hidden_dim, in_dim, phase, cfg.matmul_dtype,
                                scan_fn=self.original_scan, name=f'layer_{l}'))
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

    original/lstm/gru layers see the embedding only through their input
    projection, which is linear: drive(E[tokens]) = drive(E)[tokens]. Those
    variants gather rows of the [V, H] table drive(E) instead of projecting
    B*T embeddings (~15% of the training step's matmul FLOPs at the original's
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
