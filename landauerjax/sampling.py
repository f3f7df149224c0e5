"""Sampling from a Landauer LM: compiled, chunked, O(1) memory in the length.

`sample_chunk` is one jitted `lax.scan` over `chunk` new tokens that carries
(model state, last token, PRNG key). `generate` calls it repeatedly and yields
each chunk as soon as it is done, so memory does not grow with the number of
tokens requested and there is no length limit.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from landauerjax import kernels
from landauerjax import models
from landauerjax.core import errors


def sample_logits(key: jax.Array, logits_BxV: jax.Array, temperature: float,
                  top_k: int) -> jax.Array:
  """Draws token ids [B] from logits; temperature 0 is greedy, top_k 0 keeps all."""
  if temperature <= 0:
    return jnp.argmax(logits_BxV, axis=-1)
  logits_BxV = logits_BxV / temperature
  if 0 < top_k < logits_BxV.shape[-1]:
    kth = jax.lax.top_k(logits_BxV, top_k)[0][:, -1:]
    logits_BxV = jnp.where(logits_BxV < kth, -jnp.inf, logits_BxV)
  return jax.random.categorical(key, logits_BxV, axis=-1)


@functools.partial(jax.jit, static_argnames=('model',))
def prefill(params: Any, model: models.LandauerLM, prompt_BxP: jax.Array
            ) -> tuple[models.Carry, jax.Array]:
  """Runs the prompt from the zero state: (carry, logits of the next token [B, V])."""
  carry = models.initial_state(model.config, prompt_BxP.shape[0])
  logits, _, carry = model.apply({'params': params}, prompt_BxP, carry)
  return carry, logits[:, -1]


@functools.partial(jax.jit, static_argnames=('model', 'chunk', 'temperature', 'top_k',
                                             'with_states', 'unroll'))
def sample_chunk(params: Any, model: models.LandauerLM, carry: models.Carry,
                 logits_BxV: jax.Array, key: jax.Array, *, chunk: int,
                 temperature: float, top_k: int, with_states: bool = False,
                 unroll: int | None = None
                 ) -> tuple[models.Carry, jax.Array, jax.Array, jax.Array | None]:
  """Samples `chunk` tokens; `unroll` tokens per scan iteration (None:
  `kernels.default_unroll()`, 1 on the CPU; the same computation, equal within float32
  rounding whatever it is).

  Returns (carry, next logits [B, V], tokens [B, chunk], top-layer states
  [B, chunk, D] if with_states else None).
  """

  def body(state, _):
    carry, logits, key = state
    key, sub = jax.random.split(key)
    token = sample_logits(sub, logits, temperature, top_k)
    carry, logits, top = model.apply({'params': params}, carry, token,
                                     method=models.LandauerLM.step)
    return (carry, logits, key), (token, top if with_states else None)
  (carry, logits_BxV, _), (tokens_CxB, top_CxBxD) = jax.lax.scan(
      body, (carry, logits_BxV, key), None, length=chunk,
      unroll=kernels.default_unroll() if unroll is None else unroll)
  tops = jnp.swapaxes(top_CxBxD, 0, 1) if with_states else None
  return carry, logits_BxV, tokens_CxB.T, tops


def generate(params: Any, model: models.LandauerLM, prompt_ids: np.ndarray,
             max_new_tokens: int, key: jax.Array, *, temperature: float = 1.0,
             top_k: int = 0, chunk: int = 256, return_states: bool = False
             ) -> Iterator[np.ndarray | tuple[np.ndarray, np.ndarray]]:
  """Yields new token ids (int32[n] chunks) continuing `prompt_ids` (int32[P], P >= 1).

  Chunk i uses key fold_in(key, i), so output is deterministic for a key and
  does not depend on whether a caller stops early. With return_states, yields
  (tokens, top-layer states [n, D]) pairs instead.
  """
  prompt_ids = np.asarray(prompt_ids, np.int32).reshape(1, -1)
  if prompt_ids.shape[1] == 0:
    raise ValueError('The prompt is empty: give at least one character.')
  if max_new_tokens < 0:
    raise ValueError(f'max_new_tokens must be >= 0, got {max_new_tokens}.')
  if not (math.isfinite(temperature) and temperature >= 0):
    raise errors.ConfigError(f'temperature must be a finite number >= 0 (0: greedy), got '
                             f'{temperature}.')
  carry, logits = prefill(params, model, jnp.asarray(prompt_ids))
  done, index = 0, 0
  while done < max_new_tokens:
    carry, logits, tokens, tops = sample_chunk(
        params, model, carry, logits, jax.random.fold_in(key, index), chunk=chunk,
        temperature=float(temperature), top_k=int(top_k), with_states=return_states)
    take = min(chunk, max_new_tokens - done)
    tokens = np.asarray(tokens[0, :take])
    yield (tokens, np.asarray(tops[0, :take])) if return_states else tokens
    done, index = done + take, index + 1
