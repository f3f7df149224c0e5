"""The crystal: lattice features of the field, Hebbian crystal memory, readout.

Lattice. The crystal reads each particle's neighbourhood along the axis: the
evolved field at the particle and the K - 1 particles before it,
c_t = [x_t, x_{t-1}, ..., x_{t-K+1}] (zeros before the sequence start),
through a lattice of D sites with a rectified response,

    h_t = relu(c_t P + b),            P: [K d, D], b: [D]
    phi_t = s * (h_t - mean(h_t)) / |h_t - mean(h_t)|,

centred (so the readout sees fluctuations, not the common mode, which keeps
the Hebbian rule well conditioned) and scaled to norm s (`feature_norm`).

Crystal memory. W: [D, d] maps lattice activity to a point in embedding space,
the model's guess of the next particle, and the readout measures it against
every token's fixed embedding e_v (rows of E: [V, d]):

    logits_t = (phi_t W) E^T + ln(prior),   p_t = softmax(logits_t).

Hebbian crystallisation (no gradients anywhere): with pre = phi_t and

    post_t = e_{y_t} - p_t E     ('contrastive': clamped minus free phase)
    post_t = e_{y_t}             ('plain': clamped phase only)

the update is  dW = eta <pre (x) post> - lambda W,  eta = 1/phi, <.> the mean
over the batch's positions. The decay lambda bounds the memory: with
|pre| = s and |post| <= 2, |W|_F <= 2 eta s / lambda at all times (induction
on W <- (1 - lambda) W + eta <pre (x) post>). For the readout, the
contrastive rule equals the delta rule (Movellan's contrastive Hebbian
learning for one layer of synapses); it uses only the activities on the two
sides of each synapse, and no error is propagated anywhere else.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

RULES = ('contrastive', 'plain')


def lagged(x_TxD: jax.Array, lags: int) -> jax.Array:
  """[x_t, x_{t-1}, ..., x_{t-lags+1}] per position, zeros before t = 0: [T, lags*D]."""
  length = x_TxD.shape[0]
  padded = jnp.pad(x_TxD, ((lags - 1, 0), (0, 0)))
  return jnp.concatenate(
      [padded[lags - 1 - k: lags - 1 - k + length] for k in range(lags)], axis=-1)


def lattice_features(c_TxF: jax.Array, lattice_FxD: jax.Array,
                     bias_D: jax.Array, feature_norm: float) -> jax.Array:
  """phi: centred, norm-`feature_norm` lattice response, float32 [T, D]."""
  h = jax.nn.relu(c_TxF @ lattice_FxD.astype(c_TxF.dtype)
                  + bias_D.astype(c_TxF.dtype)).astype(jnp.float32)
  h = h - jnp.mean(h, axis=-1, keepdims=True)
  norm = jnp.sqrt(jnp.sum(h * h, axis=-1, keepdims=True))
  return feature_norm * h / (norm + 1e-6)


def readout_logits(phi_TxD: jax.Array, crystal_DxE: jax.Array,
                   embeddings_VxE: jax.Array, log_prior_V: jax.Array) -> jax.Array:
  """Next-token logits, float32 [T, V]."""
  guess_TxE = phi_TxD @ crystal_DxE
  return guess_TxE @ embeddings_VxE.T + log_prior_V


def postsynaptic(probs_TxV: jax.Array, targets_T: jax.Array,
                 embeddings_VxE: jax.Array, rule: str) -> jax.Array:
  """The post-synaptic activity of the rule, [T, E]."""
  clamped = embeddings_VxE[targets_T]
  if rule == 'contrastive':
    return clamped - probs_TxV @ embeddings_VxE
  if rule == 'plain':
    return clamped
  raise ValueError(f'Unknown Hebbian rule {rule!r}; expected one of {RULES}.')


def crystal_update(crystal_DxE: jax.Array, pre_NxD: jax.Array,
                   post_NxE: jax.Array, eta: float, decay: float,
                   weight_N: jax.Array | None = None) -> jax.Array:
  """W <- (1 - decay) W + eta <pre (x) post>, the mean over N samples.

  `weight_N` (0/1) drops samples from the mean (e.g. padding); None keeps all.
  """
  if weight_N is None:
    hebb_DxE = pre_NxD.T @ post_NxE / pre_NxD.shape[0]
  else:
    w = weight_N.astype(pre_NxD.dtype)
    hebb_DxE = (pre_NxD * w[:, None]).T @ post_NxE / jnp.maximum(jnp.sum(w), 1.0)
  return (1.0 - decay) * crystal_DxE + eta * hebb_DxE


def log_prior(counts_V: jax.Array) -> jax.Array:
  """ln p(v) from the token counts (Laplace-smoothed by their initial ones)."""
  return jnp.log(counts_V) - jnp.log(jnp.sum(counts_V))
