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
(0.91). Until then it is measured weakly, step by step (`rule`):

  * 'measurement' (default): a pointer reading y = e_k + xi / sqrt(s) is drawn
    from the superposition (k ~ p, xi ~ N(0, I)), with strength s = rate * dt,
    and the prediction is conditioned on it (Bayes' rule with the likelihood
    N(y; e_v, I / s)):

        logits_v <- logits_v + s <y, e_v> - s |e_v|^2 / 2.

    This is the continuous measurement of quantum state diffusion: the
    probabilities are a martingale (E[p' | p] = p), so however many steps the
    collapse takes, the token is drawn with the initial probabilities (Born's
    rule). It cannot make samples worse, or better, than plain sampling at the
    same temperature; what it adds is the path (steps, coherence).
  * 'replicator' (the original rule): each token is pulled by the mean,

        logits <- logits + s E psi~,     psi~ = perturbed psi,

    a deterministic flow towards the likelier tokens: it lowers the effective
    temperature, and with `field_best` its samples loop (docs/RESULTS.md,
    "Sample quality").

dt comes from the perturbation (`fieldjax.perturbations`: Beta or adaptive
random steps); the measurement rule uses its dt only, since a kicked reading
would no longer be conditioned on correctly. At the threshold, or after
`max_steps`, a token is sampled from softmax(logits). `temperature` scales
the initial logits; `top_k` restricts them (the measurement rule restricts
before collapsing, so that it equals top-k sampling; the replicator after).
With `max_steps = 0` both are plain temperature sampling.
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
  rule: str = 'measurement'  # | 'replicator' (module docstring).

  def __post_init__(self):
    if self.rule not in RULES:
      raise ValueError(f'collapse.rule must be one of {RULES}, got {self.rule!r}.')
    if self.max_steps < 0 or not self.rate > 0:
      raise ValueError(f'collapse.max_steps must be >= 0 and collapse.rate > 0, got '
                       f'{self.max_steps} and {self.rate}.')


RULES = ('measurement', 'replicator')


def with_rule(cfg: Any, rule: str) -> Any:
  """A model config (`fieldjax.model.ModelConfig`) collapsing by `rule`: one of RULES,
  or 'off', plain temperature sampling (max_steps 0); its other settings kept."""
  change = {'max_steps': 0} if rule == 'off' else {'rule': rule}
  return dataclasses.replace(cfg, collapse=dataclasses.replace(cfg.collapse, **change))


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


def evolve(key: jax.Array, logits_V: jax.Array, embeddings_VxE: jax.Array, *,
           kind: str, cfg: CollapseConfig, perturbation: perturbations.PerturbationConfig
           ) -> tuple[jax.Array, jax.Array]:
  """The collapse's steps (module docstring) until C >= threshold or `max_steps`.

  Args:
    key: PRNG key.
    logits_V: the prediction's logits (already divided by the temperature).
    embeddings_VxE: the fixed token embeddings.
    kind: perturbation kind, one of `perturbations.KINDS` (static).
    cfg: threshold, step cap, rate and rule.
    perturbation: perturbation constants.

  Returns:
    (evolved logits float32 [V], steps int32 scalar).
  """
  emb = embeddings_VxE.astype(jnp.float32)
  sq_norms = jnp.sum(emb * emb, axis=-1)

  def cond(carry):
    step, lg, _ = carry
    return (step < cfg.max_steps) & (prediction_coherence(lg, emb) < cfg.threshold)

  def body(carry):
    step, lg, k = carry
    k, sub = jax.random.split(k)
    p = jax.nn.softmax(lg)
    psi, dt = perturbations.perturb(kind, sub, p @ emb, prediction_coherence(lg, emb),
                                    perturbation)
    strength = cfg.rate * dt
    if cfg.rule == 'measurement':  # Condition on a reading y = e_k + xi / sqrt(s), k ~ p.
      k_token, k_noise = jax.random.split(jax.random.fold_in(sub, 1))
      pointer = emb[jax.random.categorical(k_token, lg)]
      noise = jax.random.normal(k_noise, pointer.shape, jnp.float32)
      # log N(y; e_v, I / s) = s <y, e_v> - s |e_v|^2 / 2 + const(y).
      reading = emb @ (strength * pointer + jnp.sqrt(strength) * noise)
      return step + 1, lg + reading - 0.5 * strength * sq_norms, k
    return step + 1, lg + strength * (emb @ psi), k

  steps, logits, _ = jax.lax.while_loop(
      cond, body, (jnp.int32(0), logits_V.astype(jnp.float32), key))
  return logits, steps


def collapse(key: jax.Array, logits_V: jax.Array, embeddings_VxE: jax.Array, *,
             kind: str, cfg: CollapseConfig,
             perturbation: perturbations.PerturbationConfig,
             temperature: float = 1.0, top_k: int = 0
             ) -> tuple[jax.Array, dict[str, Any]]:
  """Evolves one prediction until coherent (`evolve`), then samples a token.

  Args:
    key: PRNG key.
    logits_V: the readout's next-token logits.
    embeddings_VxE: the fixed token embeddings.
    kind: perturbation kind, one of `perturbations.KINDS`.
    cfg: threshold, step cap, rate and rule.
    perturbation: perturbation constants.
    temperature: > 0; divides the initial logits.
    top_k: sample among the k most likely tokens (0: all).

  Returns:
    (token int32 scalar, {'steps': int32, 'coherence': float32 at the
    measurement, 'reached': bool (threshold reached before the cap)}).
  """
  if temperature <= 0:
    raise ValueError(f'temperature must be > 0, got {temperature}.')
  logits = logits_V.astype(jnp.float32) / temperature
  measuring = cfg.rule == 'measurement'
  if measuring:  # Restrict first: the collapse then draws with top-k sampling's law.
    logits = top_k_logits(logits, top_k)
  key, sample_key = jax.random.split(key)
  logits, steps = evolve(key, logits, embeddings_VxE, kind=kind, cfg=cfg,
                         perturbation=perturbation)
  final = prediction_coherence(logits, embeddings_VxE.astype(jnp.float32))
  token = jax.random.categorical(sample_key, logits if measuring else top_k_logits(logits, top_k))
  return token.astype(jnp.int32), {'steps': steps, 'coherence': final,
                                   'reached': final >= cfg.threshold}
