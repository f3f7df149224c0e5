"""The Landauer LM's loss: cross-entropy plus the thermodynamic inertia penalty.

Shapes: B batch, T window, V vocabulary, D top-layer width. The loss is
    CE (nats/char) + energy_weight * inertia_temperature * ln(phi) * mean_t,b,d (h_t - h_{t-1})**2
over the top layer's states inside each window.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from landauerjax import constants
from landauerjax import models


def cross_entropy(logits_BxTxV: jax.Array, targets_BxT: jax.Array) -> jax.Array:
  """Per-token cross-entropy in nats: [B, T]."""
  return optax.softmax_cross_entropy_with_integer_labels(
      logits_BxTxV.astype(jnp.float32), targets_BxT)


def inertia_penalty(states_BxTxD: jax.Array) -> jax.Array:
  """Mean squared hidden-state velocity within the window: scalar."""
  velocity = jnp.diff(states_BxTxD, axis=1)
  return jnp.mean(jnp.abs(velocity)**2)


def inertia_coefficient(energy_weight: float, inertia_temperature: float) -> float:
  """w * tau * ln(phi): the inertia penalty's weight (0.0024 by default)."""
  return energy_weight * inertia_temperature * constants.LN_PHI


def loss_fn(params: Any, model: models.LandauerLM, windows_BxT1: jax.Array,
            coefficient: float, dropout_key: jax.Array | None = None
            ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Total loss of one batch of windows from a zero state, and its terms.

  A dropout_key switches on training mode (dropout, where configured).
  """
  inputs, targets = windows_BxT1[:, :-1], windows_BxT1[:, 1:]
  carry = models.initial_state(model.config, inputs.shape[0])
  if dropout_key is None:
    logits, top, _ = model.apply({'params': params}, inputs, carry)
  else:
    logits, top, _ = model.apply({'params': params}, inputs, carry, train=True,
                                 rngs={'dropout': dropout_key})
  ce = jnp.mean(cross_entropy(logits, targets))
  energy = inertia_penalty(top)
  total = ce + coefficient * energy
  return total, {'loss': total, 'ce': ce, 'energy': energy}
