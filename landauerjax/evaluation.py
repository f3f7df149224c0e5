"""Validation cross-entropy of the Landauer LM over a whole split, and the original's protocols.

Shapes: S evaluation streams, L stream length (a multiple of the window).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landauerjax import models
from landauerjax.core import windows as windows_lib
from landauerjax import losses


@functools.partial(jax.jit, static_argnames=('model', 'window', 'carry_state'))
def _stream_ce_sum(params: Any, model: models.LandauerLM, inputs_SxL: jax.Array,
                   targets_SxL: jax.Array, mask_SxL: jax.Array, window: int,
                   carry_state: bool) -> jax.Array:
  """Summed masked cross-entropy over S streams, window by window (one scan)."""
  num_streams, length = inputs_SxL.shape
  chunks = lambda a: jnp.moveaxis(a.reshape(num_streams, length // window, window), 1, 0)
  zero = models.initial_state(model.config, num_streams)

  def body(carry, chunk):
    inputs, targets, mask = chunk
    logits, _, new_carry = model.apply({'params': params}, inputs, carry)
    ce = jnp.sum(losses.cross_entropy(logits, targets) * mask)
    return (new_carry if carry_state else zero), ce
  _, ce_C = jax.lax.scan(body, zero, (chunks(inputs_SxL), chunks(targets_SxL),
                                      chunks(mask_SxL)))
  return jnp.sum(ce_C)


def evaluate(params: Any, model: models.LandauerLM, tokens_N: np.ndarray, *,
             num_streams: int = 32, window: int = 256, carry_state: bool = True
             ) -> dict[str, float]:
  """Cross-entropy over a whole split: {'ce' nats/char, 'bpc' bits/char, 'chars'}.

  With carry_state (the default) each of the S streams carries its hidden state
  from window to window; otherwise the state resets to zero every `window`.
  """
  streams = windows_lib.eval_streams(tokens_N, num_streams, window)
  total = _stream_ce_sum(params, model, streams.inputs, streams.targets,
                         streams.mask, window, carry_state)
  ce = float(total) / streams.num_targets
  return {'ce': ce, 'bpc': ce / math.log(2), 'chars': streams.num_targets}


def one_batch_loss(params: Any, model: models.LandauerLM, tokens_N: np.ndarray,
                   key: jax.Array, *, batch_size: int = 32, seq_len: int = 64,
                   coefficient: float = losses.inertia_coefficient(0.1, 0.05)) -> dict[str, float]:
  """The original's protocol: total loss (CE + energy) of ONE random batch."""
  windows = windows_lib.sample_windows(jnp.asarray(tokens_N), key, batch_size, seq_len)
  _, metrics = jax.jit(losses.loss_fn, static_argnums=1)(params, model, windows, coefficient)
  return {k: float(v) for k, v in metrics.items()}


def other_protocols(params: Any, model: models.LandauerLM, tokens_N: np.ndarray, *,
                    num_streams: int, window: int, seed: int) -> dict[str, float]:
  """The numbers the original's protocols give, beside `evaluate`'s: {'val_ce_reset'
  (`evaluate` with the state zeroed every `window` characters), 'one_batch_loss'
  (`one_batch_loss` of the batch of PRNG seed `seed`)}."""
  reset = evaluate(params, model, tokens_N, num_streams=num_streams, window=window,
                   carry_state=False)
  return {'val_ce_reset': reset['ce'], 'one_batch_loss': one_batch_loss(
      params, model, tokens_N, jax.random.PRNGKey(seed))['loss']}
