"""Coherence and coherence-driven collapse: how the field LM picks a token.

Coherence. For vectors u_i with non-negative weights w_i, the order parameter

    C = |sum_i w_i u_i| / sum_i w_i |u_i|   in [0, 1]

is 1 when all point the same way and near 0 when they cancel (the Kuramoto
order parameter for unit phasors). Two uses:
  * the field's coherence: the particles x_t with equal weights;
  * the prediction's coherence: the superposition psi = sum_v p_v e_v of the
    token embeddings weighted by the readout's probabilities, C = |psi|
    (embeddings have unit norm). A sure prediction has C = 1.

Collapse. The prediction is a superposition until C reaches the threshold
(0.91). Until then it evolves: each token is pulled by the superposition,

    logits <- logits + rate * dt * E psi~,     psi~ = perturbed psi

(a replicator-like flow: tokens aligned with psi gain, so C rises), with
psi~ and dt drawn from the perturbation (`fieldjax.perturbations`). At the
threshold, or after `max_steps`, the field is measured: a token is sampled
from softmax(logits) restricted to the top-k. `temperature` scales the
initial logits. With `max_steps = 0` this is plain temperature sampling.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from fieldjax import constants
from fieldjax import perturbations


@dataclasses.dataclass(frozen=True)
class CollapseConfig:
  threshold: float = constants.COLLAPSE_THRESHOLD
  max_steps: int = 64
  rate: float = 2.0


def coherence(vectors_NxD: jax.Array, weights_N: jax.Array | None = None) -> jax.Array:
  """Order parameter in [0, 1] of N weighted vectors (scalar)."""
  v = vectors_NxD.astype(jnp.float32)
  w = jnp.ones(v.shape[:1], jnp.float32) if weights_N is None else weights_N
  total = jnp.sum(w[:, None] * v, axis=0)
  norms = jnp.sqrt(jnp.sum(v * v, axis=-1))
  return jnp.sqrt(jnp.sum(total * total)) / jnp.maximum(jnp.sum(w * norms), 1e-12)


def causal_coherence(vectors_TxD: jax.Array) -> jax.Array:
  """Coherence of vectors 0..t for every t (equal weights), float32 [T]."""
  v = vectors_TxD.astype(jnp.float32)
  total_TxD = jnp.cumsum(v, axis=0)
  norms_T = jnp.cumsum(jnp.sqrt(jnp.sum(v * v, axis=-1)), axis=0)
  return jnp.sqrt(jnp.sum(total_TxD ** 2, axis=-1)) / jnp.maximum(norms_T, 1e-12)


def prediction_coherence(logits_V: jax.Array, embeddings_VxE: jax.Array) -> jax.Array:
  """|psi|, psi = softmax(logits) E (unit-norm rows): the coherence of a prediction."""
  return coherence(embeddings_VxE, jax.nn.softmax(logits_V.astype(jnp.float32)))


def top_k_logits(logits_V: jax.Array, top_k: int) -> jax.Array:
  """Logits outside the k largest set to -inf (top_k <= 0 keeps all)."""
  if top_k <= 0 or top_k >= logits_V.shape[-1]:
    return logits_V
  kth = jax.lax.top_k(logits_V, top_k)[0][..., -1:]
  return jnp.where(logits_V < kth, -jnp.inf, logits_V)


def collapse(key: jax.Array, logits_V: jax.Array, embeddings_VxE: jax.Array, *,
             kind: str, cfg: CollapseConfig,
             perturbation: perturbations.PerturbationConfig,
             temperature: float = 1.0, top_k: int = 0
             ) -> tuple[jax.Array, dict[str, Any]]:
  """Evolves one prediction until coherent, then samples a token.

  Args:
    key: PRNG key.
    logits_V: the readout's next-token logits.
    embeddings_VxE: the fixed token embeddings (unit rows).
    kind: perturbation kind, one of `perturbations.KINDS`.
    cfg: threshold, step cap and rate.
    perturbation: perturbation constants.
    temperature: > 0; divides the initial logits.
    top_k: sample among the k most likely tokens (0: all).

  Returns:
    (token int32 scalar, {'steps': int32, 'coherence': float32 at the
    measurement, 'reached': bool (threshold reached before the cap)}).
  """
  if temperature <= 0:
    raise ValueError(f'temperature must be > 0, got {temperature}.')
  emb = embeddings_VxE.astype(jnp.float32)
  logits = logits_V.astype(jnp.float32) / temperature

  def measure(lg):
    return prediction_coherence(lg, emb)

  def cond(carry):
    step, lg, _ = carry
    return (step < cfg.max_steps) & (measure(lg) < cfg.threshold)

  def body(carry):
    step, lg, k = carry
    k, sub = jax.random.split(k)
    c = measure(lg)
    psi = jax.nn.softmax(lg) @ emb
    psi, dt = perturbations.perturb(kind, sub, psi, c, perturbation)
    return step + 1, lg + cfg.rate * dt * (emb @ psi), k

  key, sample_key = jax.random.split(key)
  steps, logits, _ = jax.lax.while_loop(cond, body, (jnp.int32(0), logits, key))
  final = measure(logits)
  token = jax.random.categorical(sample_key, top_k_logits(logits, top_k))
  return token.astype(jnp.int32), {'steps': steps, 'coherence': final,
                                   'reached': final >= cfg.threshold}
