"""Generation: the field of the last `context` tokens, collapsed into the next token.

The field LM has no recurrent state: the next token depends on the last
`context` tokens through the field. Generation keeps them in a fixed buffer
(right-aligned; empty slots are massless particles at the origin), so memory
is O(context) however long the output, and runs as one jitted `lax.scan`
over new tokens per chunk.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import collapse as collapse_lib
from fieldjax import model as model_lib
from fieldjax import perturbations


def next_token_logits(params: dict[str, jax.Array], buffer_C: jax.Array,
                      valid_C: jax.Array, cfg: model_lib.ModelConfig) -> jax.Array:
  """Unperturbed logits [V] of the token after the buffer's last one: the model's forward
  pass (`model_lib.forward`) of the last position only."""
  none = jnp.int32(perturbations.KINDS.index('none'))
  return model_lib.forward(params, buffer_C[None], jax.random.PRNGKey(0), none, cfg,
                           valid_C[None], last_only=True).logits_NxV[0]


@functools.partial(jax.jit, static_argnames=('cfg', 'num_tokens', 'kind',
                                             'temperature', 'top_k'))
def _generate_chunk(params, buffer_C, valid_C, key, *, cfg, num_tokens, kind,
                    temperature, top_k):
  emb = model_lib.embedding_table(cfg)

  def body(carry, step_key):
    buffer, valid = carry
    logits = next_token_logits(params, buffer, valid, cfg)
    token, info = collapse_lib.collapse(
        step_key, logits, emb, kind=kind, cfg=cfg.collapse,
        perturbation=cfg.perturbation, temperature=temperature, top_k=top_k)
    buffer = jnp.concatenate([buffer[1:], token[None]])
    valid = jnp.concatenate([valid[1:], jnp.ones((1,), bool)])
    return (buffer, valid), (token, info['steps'], info['coherence'])

  keys = jax.random.split(key, num_tokens)
  (buffer, valid), (tokens, steps, coherence) = jax.lax.scan(
      body, (buffer_C, valid_C), keys)
  return buffer, valid, tokens, steps, coherence


def generate(params: dict[str, jax.Array], cfg: model_lib.ModelConfig,
             prompt_tokens: np.ndarray, *, num_tokens: int, key: jax.Array,
             kind: str = 'none', temperature: float = 1.0, top_k: int = 0,
             context: int = 128, chunk: int = 64) -> Iterator[dict[str, Any]]:
  """Yields chunks {'tokens': int32 [n], 'collapse_steps': [n], 'coherence': [n]}.

  Args:
    params, cfg: a trained model.
    prompt_tokens: int [P], P >= 1 (only the last `context` are used).
    num_tokens: how many tokens to generate.
    key: PRNG key.
    kind: perturbation during collapse, one of perturbations.KINDS.
    temperature, top_k: sampling (see fieldjax.collapse.collapse).
    context: tokens of context the field sees (the training seq_len is best).
    chunk: tokens per compiled chunk.
  """
  prompt_tokens = np.asarray(prompt_tokens, np.int32)
  if prompt_tokens.size == 0:
    raise ValueError('The prompt is empty: generation needs at least one token.')
  if kind not in perturbations.KINDS:
    raise ValueError(f'Unknown perturbation {kind!r}; expected one of {perturbations.KINDS}.')
  if temperature <= 0:
    raise ValueError(f'temperature must be > 0, got {temperature}.')
  tail = prompt_tokens[-context:]
  buffer = np.zeros((context,), np.int32)
  buffer[context - len(tail):] = tail
  valid = np.zeros((context,), bool)
  valid[context - len(tail):] = True
  buffer, valid = jnp.asarray(buffer), jnp.asarray(valid)
  done = 0
  while done < num_tokens:
    n = min(chunk, num_tokens - done)
    key, sub = jax.random.split(key)
    buffer, valid, tokens, steps, coh = _generate_chunk(
        params, buffer, valid, sub, cfg=cfg, num_tokens=n, kind=kind,
        temperature=float(temperature), top_k=int(top_k))
    done += n
    yield {'tokens': np.asarray(tokens), 'collapse_steps': np.asarray(steps),
           'coherence': np.asarray(coh)}


def stream(params: dict[str, jax.Array], cfg: model_lib.ModelConfig,
           prompt_tokens: np.ndarray, write: Callable[[np.ndarray], None], *,
           num_tokens: int, key: jax.Array, **kwargs: Any) -> dict[str, float]:
  """Generates like `generate`, handing each chunk's tokens to `write`.

  Keeps running sums, not per-token records, so memory stays flat however
  many tokens are generated. Returns {'tokens', 'mean_collapse_steps',
  'mean_coherence'} over all of them. `kwargs` go to `generate`.
  """
  count, steps_sum, coherence_sum = 0, 0.0, 0.0
  for chunk in generate(params, cfg, prompt_tokens, num_tokens=num_tokens, key=key, **kwargs):
    write(chunk['tokens'])
    count += len(chunk['tokens'])
    steps_sum += float(np.sum(chunk['collapse_steps']))
    coherence_sum += float(np.sum(chunk['coherence']))
  return {'tokens': count, 'mean_collapse_steps': steps_sum / max(count, 1),
          'mean_coherence': coherence_sum / max(count, 1)}
