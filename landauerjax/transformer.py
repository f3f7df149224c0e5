"""A small causal transformer: the attention baseline for the Landauer LM.

GPT-style (as nanoGPT's character-level Shakespeare configs): token and
learned position embeddings, pre-LayerNorm blocks of causal multi-head
self-attention and a GELU MLP, a final LayerNorm and a head tied to the token
embedding. Trained on the same random windows of the same split as the
recurrent variants (`train_step`); `train_and_evaluate` trains with nanoGPT's
optimizer (`nanogpt_optimizer`), as `scripts/transformer_baseline.py` does.

A transformer has no recurrent state to carry along a split, so the whole-split
evaluation here is a sliding window (`sliding_window_ce`, on the windows of
`landauerjax.core.windows.eval_windows`): every target is scored exactly once, with at
least `block_size - stride` characters of context (fewer in the first window).

Shapes: B batch, T time (<= block_size), V vocabulary, D model width,
H heads, W windows.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Any

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from landauerjax import losses
from landauerjax import models
from landauerjax.core import windows as windows_lib


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """Hyperparameters; the defaults are nanoGPT's CPU 'baby' Shakespeare model."""

  vocab_size: int = 65
  num_layers: int = 4
  num_heads: int = 4
  model_dim: int = 128
  block_size: int = 64  # Longest context (learned positions).
  mlp_ratio: int = 4
  dropout: float = 0.0

  def __post_init__(self):
    for name in ('vocab_size', 'num_layers', 'num_heads', 'model_dim', 'block_size',
                 'mlp_ratio'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be positive, got {getattr(self, name)}.')
    if self.model_dim % self.num_heads:
      raise ValueError(f'model_dim {self.model_dim} is not divisible by '
                       f'num_heads {self.num_heads}.')
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f'dropout must be in [0, 1), got {self.dropout}.')


def causal_attention(q_BxTxHxK: jax.Array, k_BxTxHxK: jax.Array,
                     v_BxTxHxK: jax.Array) -> jax.Array:
  """Softmax(q k^T / sqrt(K)) v with position t attending to positions <= t."""
  t = q_BxTxHxK.shape[1]
  scores_BxHxTxT = jnp.einsum('bqhk,bshk->bhqs', q_BxTxHxK, k_BxTxHxK)
  scores_BxHxTxT = scores_BxHxTxT / math.sqrt(q_BxTxHxK.shape[-1])
  mask_TxT = jnp.tril(jnp.ones((t, t), bool))
  scores_BxHxTxT = jnp.where(mask_TxT, scores_BxHxTxT, -jnp.inf)
  weights = jax.nn.softmax(scores_BxHxTxT, axis=-1)
  return jnp.einsum('bhqs,bshk->bqhk', weights, v_BxTxHxK)


class Block(nn.Module):
  """Pre-norm residual block: x + attn(LN(x)), then x + MLP(LN(x))."""

  config: TransformerConfig

  @nn.compact
  def __call__(self, x_BxTxD: jax.Array, train: bool) -> jax.Array:
    cfg = self.config
    b, t, d = x_BxTxD.shape
    head_dim = d // cfg.num_heads
    init = nn.initializers.normal(0.02)
    # GPT-2's scaled init of the projections into the residual stream.
    out_init = nn.initializers.normal(0.02 / math.sqrt(2 * cfg.num_layers))
    drop = nn.Dropout(cfg.dropout, deterministic=not train)

    qkv = nn.Dense(3 * d, kernel_init=init, name='qkv')(nn.LayerNorm(name='ln_attn')(x_BxTxD))
    q, k, v = jnp.split(qkv.reshape(b, t, 3 * cfg.num_heads, head_dim), 3, axis=2)
    attended = causal_attention(q, k, v).reshape(b, t, d)
    x_BxTxD = x_BxTxD + drop(nn.Dense(d, kernel_init=out_init, name='attn_out')(attended))

    h = nn.Dense(cfg.mlp_ratio * d, kernel_init=init, name='mlp_up')(
        nn.LayerNorm(name='ln_mlp')(x_BxTxD))
    h = nn.Dense(d, kernel_init=out_init, name='mlp_down')(jax.nn.gelu(h))
    return x_BxTxD + drop(h)


class Transformer(nn.Module):
  """tokens int[B, T] (T <= block_size) -> next-token logits [B, T, V]."""

  config: TransformerConfig

  @nn.compact
  def __call__(self, tokens_BxT: jax.Array, train: bool = False) -> jax.Array:
    cfg = self.config
    t = tokens_BxT.shape[1]
    if t > cfg.block_size:
      raise ValueError(f'Sequence of {t} tokens is longer than block_size {cfg.block_size}.')
    embed = nn.Embed(cfg.vocab_size, cfg.model_dim,
                     embedding_init=nn.initializers.normal(0.02), name='embed')
    positions_TxD = self.param('positions', nn.initializers.normal(0.02),
                               (cfg.block_size, cfg.model_dim))
    x = embed(tokens_BxT) + positions_TxD[:t]
    x = nn.Dropout(cfg.dropout, deterministic=not train)(x)
    for l in range(cfg.num_layers):
      x = Block(cfg, name=f'block_{l}')(x, train)
    return embed.attend(nn.LayerNorm(name='ln_final')(x))  # Tied head.


def init_params(config: TransformerConfig, key: jax.Array) -> Any:
  tokens = jnp.zeros((1, config.block_size), jnp.int32)
  return Transformer(config).init(key, tokens)['params']


def loss_fn(params: Any, model: Transformer, windows_BxT1: jax.Array,
            dropout_key: jax.Array | None = None) -> jax.Array:
  """Mean next-token cross-entropy (nats/char) of windows int[B, T+1]."""
  inputs, targets = windows_BxT1[:, :-1], windows_BxT1[:, 1:]
  rngs = {} if dropout_key is None else {'dropout': dropout_key}
  logits = model.apply({'params': params}, inputs, train=dropout_key is not None, rngs=rngs)
  return jnp.mean(losses.cross_entropy(logits, targets))


def train_step(params: Any, opt_state: Any, step: jax.Array, tokens_N: jax.Array, *,
               model: Transformer, optimizer: optax.GradientTransformation, seed: int,
               batch_size: int) -> tuple[Any, Any, jax.Array]:
  """One optimiser step on batch `step` (the recurrent models' batches): pure; jit it.

  Returns (params, opt_state, loss).
  """
  key = windows_lib.batch_key(seed, step)
  windows = windows_lib.sample_windows(tokens_N, key, batch_size, model.config.block_size)
  dropout_key = jax.random.fold_in(key, 1) if model.config.dropout > 0 else None
  loss, grads = jax.value_and_grad(loss_fn)(params, model, windows, dropout_key)
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss


@functools.partial(jax.jit, static_argnames=('model',))
def _windows_ce_sum(params: Any, model: Transformer, windows_WxT1: jax.Array,
                    mask_WxT: jax.Array) -> jax.Array:
  logits = model.apply({'params': params}, windows_WxT1[:, :-1])
  return jnp.sum(losses.cross_entropy(logits, windows_WxT1[:, 1:]) * mask_WxT)


def sliding_window_ce(params: Any, model: Transformer, tokens_N: np.ndarray, *,
                      stride: int | None = None, batch_windows: int = 256
                      ) -> dict[str, float]:
  """Cross-entropy of a whole split: {'ce' nats/char, 'bpc', 'chars'}.

  Windows of block_size from `landauerjax.core.windows.eval_windows`: every target is
  scored once; stride defaults to block_size // 2, so every target but the
  first block's has at least half a block of context.
  """
  block = model.config.block_size
  stride = block // 2 if stride is None else stride
  windows, mask = windows_lib.eval_window_batches(
      np.asarray(tokens_N, np.int32), block, stride, batch_windows)
  total = jnp.float32(0.0)  # Summed on device: one read-back at the end.
  for windows_WxT1, mask_WxT in zip(windows, mask):
    total = total + _windows_ce_sum(params, model, windows_WxT1, mask_WxT)
  chars = int(mask.sum())
  ce = float(total) / chars
  return {'ce': ce, 'bpc': ce / math.log(2), 'chars': chars}


def nanogpt_optimizer(learning_rate: float, num_steps: int, warmup_steps: int
                      ) -> optax.GradientTransformation:
  """nanoGPT's: clip 1.0, AdamW(b2=0.99), cosine to lr/10, decay on matrices only."""
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, learning_rate, warmup_steps, max(num_steps, warmup_steps + 1),
      end_value=learning_rate / 10)
  decay_mask = lambda params: jax.tree_util.tree_map(lambda p: p.ndim >= 2, params)
  return optax.chain(
      optax.clip_by_global_norm(1.0),
      optax.adamw(schedule, b1=0.9, b2=0.99, weight_decay=0.1, mask=decay_mask))


def train_and_evaluate(config: TransformerConfig, train_N: np.ndarray,
                       validation_N: np.ndarray, *, seed: int, batch_size: int,
                       num_steps: int, learning_rate: float, warmup_steps: int,
                       name: str = 'transformer') -> dict[str, Any]:
  """Trains with `nanogpt_optimizer` on the recurrent models' batches of `train_N`, then
  scores the whole `validation_N` (`sliding_window_ce`).

  Returns {'params' (count), 'num_steps', 'val_ce', 'val_bpc', 'chars', 'train_s',
  'ms_per_step', 'train_curve' ([step, train loss] every 250 steps)}. Raises
  FloatingPointError on a non-finite loss.
  """
  model = Transformer(config)
  optimizer = nanogpt_optimizer(learning_rate, num_steps, warmup_steps)
  params = init_params(config, jax.random.PRNGKey(seed))
  opt_state = optimizer.init(params)
  step_fn = jax.jit(lambda p, o, s, t: train_step(
      p, o, s, t, model=model, optimizer=optimizer, seed=seed, batch_size=batch_size))
  tokens = jnp.asarray(train_N)
  t0 = time.perf_counter()
  curve = []
  for step in range(num_steps):
    params, opt_state, loss = step_fn(params, opt_state, jnp.asarray(step), tokens)
    if (step + 1) % 250 == 0:
      loss = float(loss)
      if not math.isfinite(loss):
        raise FloatingPointError(f'{name} seed {seed}: non-finite loss at step {step + 1}.')
      curve.append((step + 1, loss))
      logging.info('%s seed %d step %d: train loss %.4f (%.0f s)', name, seed, step + 1,
                   loss, time.perf_counter() - t0)
  jax.block_until_ready(params)
  train_s = time.perf_counter() - t0
  val = sliding_window_ce(params, model, validation_N)
  return {'params': models.count_params(params), 'num_steps': num_steps,
          'val_ce': val['ce'], 'val_bpc': val['bpc'], 'chars': val['chars'],
          'train_s': train_s, 'ms_per_step': 1e3 * train_s / num_steps, 'train_curve': curve}
