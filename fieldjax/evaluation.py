"""Validation cross-entropy of the field LM: every target scored once, with context.

Windows of `seq_len` tokens advance by `stride`; each target is scored once, with
at least seq_len - stride tokens of context (`core.windows.eval_window_batches`).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import model as model_lib
from landauerjax.core import windows as windows_lib


@functools.partial(jax.jit, static_argnames=('cfg',))
def _window_ce_sum(params, windows_BxT1, mask_BxT, *, cfg):
  logp = model_lib.log_probs(params, windows_BxT1[:, :-1], cfg)
  nll = -jnp.take_along_axis(logp, windows_BxT1[:, 1:, None], axis=-1)[..., 0]
  return jnp.sum(nll * mask_BxT)


def evaluate(params: dict[str, jax.Array], tokens_N: np.ndarray,
             cfg: model_lib.ModelConfig, *, seq_len: int, stride: int,
             batch_size: int = 64, max_tokens: int = 0) -> dict[str, float]:
  """Validation cross-entropy (nats/token), bits/token and perplexity."""
  tokens_N = np.asarray(tokens_N)
  if max_tokens:
    tokens_N = tokens_N[:max_tokens + 1]
  windows, mask = windows_lib.eval_window_batches(tokens_N, seq_len, stride, batch_size)
  total = jnp.float32(0.0)  # Summed on device: one read-back at the end.
  for windows_BxT1, mask_BxT in zip(windows, mask):
    total = total + _window_ce_sum(params, windows_BxT1, mask_BxT, cfg=cfg)
  count = float(mask.sum())
  ce = float(total) / count
  perplexity = math.exp(ce) if ce < 700 else math.inf  # exp(710) overflows a float.
  return {'ce': ce, 'bits': ce / math.log(2), 'perplexity': perplexity,
          'tokens': int(count)}
