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


def lattice_response(c_TxF: jax.Array, lattice_FxD: jax.Array, bias_D: jax.Array) -> jax.Array:
  """h = relu(c P + b), the lattice sites' rectified response, float32 [T, D]."""
  return jax.nn.relu(c_TxF @ lattice_FxD.astype(c_TxF.dtype)
                     + bias_D.astype(c_TxF.dtype)).astype(jnp.float32)


def features_of_response(h_TxD: jax.Array, feature_norm: float) -> jax.Array:
  """phi: the response centred and scaled to norm `feature_norm`, float32 [T, D]."""
  h = h_TxD - jnp.mean(h_TxD, axis=-1, keepdims=True)
  norm = jnp.sqrt(jnp.sum(h * h, axis=-1, keepdims=True))
  return feature_norm * h / (norm + 1e-6)


def lattice_features(c_TxF: jax.Array, lattice_FxD: jax.Array,
                     bias_D: jax.Array, feature_norm: float) -> jax.Array:
  """phi: centred, norm-`feature_norm` lattice response, float32 [T, D]."""
  return features_of_response(lattice_response(c_TxF, lattice_FxD, bias_D), feature_norm)


def instar_update(lattice_FxD: jax.Array, c_NxF: jax.Array, h_NxD: jax.Array,
                  winners: int, rate: float, weight_N: jax.Array | None = None) -> jax.Array:
  """The competitive (instar) lattice rule: the k most active sites move to their inputs.

  For each position n, its `winners` most responsive sites j share one unit of
  learning in proportion to their response, g_nj = h_nj / sum_{j' winners} h_nj'
  (0 elsewhere, and 0 where nothing responds). With G_j = sum_n g_nj, a site's
  share of this batch,

      P[:, j] <- P[:, j] + rate * sum_n g_nj (c_n - P[:, j]) / max(G_j, 1):

  a site that won at least one unit moves the fraction `rate` of the way to the
  mean of the inputs it won (online k-means), one that won less moves less.
  This is Grossberg's instar rule (Hebbian growth g c, Oja-like decay g P) under
  k-winners-take-all competition, so sites specialise to the contexts they
  already answer instead of all converging on one principal direction. It uses
  only each synapse's two sides. Bound: with 0 <= rate <= 1 every column moves to
  a convex combination of itself and the inputs, so |P[:, j]| never exceeds
  max(|P[:, j]|, max_n |c_n|).

  Args:
    lattice_FxD: the lattice P.
    c_NxF: lattice inputs of N positions.
    h_NxD: their responses (`lattice_response`) under P.
    winners: k, sites that learn per position.
    rate: in [0, 1].
    weight_N: 0/1 per position (e.g. padding); None keeps all.
  """
  top_NxK, index_NxK = jax.lax.top_k(h_NxD, winners)
  share_NxK = top_NxK / jnp.maximum(jnp.sum(top_NxK, -1, keepdims=True), 1e-12)
  if weight_N is not None:
    share_NxK = share_NxK * weight_N.astype(jnp.float32)[:, None]
  rows = jnp.arange(h_NxD.shape[0])[:, None]
  g_NxD = jnp.zeros(h_NxD.shape, jnp.float32).at[rows, index_NxK].set(share_NxK)
  pull_FxD = c_NxF.astype(jnp.float32).T @ g_NxD
  total_D = jnp.sum(g_NxD, axis=0)
  lattice = lattice_FxD.astype(jnp.float32)
  step_D = rate / jnp.maximum(total_D, 1.0)
  return (lattice + step_D * (pull_FxD - lattice * total_D)).astype(lattice_FxD.dtype)


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


def index_sum(values_N: jax.Array, index_N: jax.Array, size: int) -> jax.Array:
  """sum_n values_N[n] [index_N[n] = i] for i < size: [size] (e.g. token counts, V = size).

  For a few bins (V = 65, recall's 8 gains) and many entries (N = B T = 4,096): on the
  CPU a scatter-add, which measured fastest there (54 us against 196 us for a one-hot
  sum at field_best's shapes; segment_sum and bincount are the same scatter); elsewhere
  an [N, size] masked sum, since a GPU's scatter-add into few bins serialises on
  atomics and adds floats in a run-dependent order, while the masked sum is a plain
  deterministic reduction (not measured here: no GPU). Integer-valued float32 sums (the
  counts, < 2^24) are exact, so equal on both paths; others equal within rounding.
  """
  if jax.default_backend() == 'cpu':
    return jnp.zeros((size,), values_N.dtype).at[index_N].add(values_N)
  hit_NxS = index_N[:, None] == jnp.arange(size)[None, :]
  return jnp.sum(jnp.where(hit_NxS, values_N[:, None], jnp.zeros((), values_N.dtype)), axis=0)


def log_prior(counts_V: jax.Array) -> jax.Array:
  """ln p(v) from the token counts (Laplace-smoothed by their initial ones)."""
  return jnp.log(counts_V) - jnp.log(jnp.sum(counts_V))
