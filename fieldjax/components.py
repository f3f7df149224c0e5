"""The parts of the field LM that read the field and add a term to the logits: one registry.

`fieldjax.model.forward` embeds a batch of B sequences, runs each one's field,
and hands the result (a `Batch`) to every active component. A component is a
frozen dataclass of pure functions (`Component`): its parameters, where they
live on a mesh, what it reads of the batch at each position, its term of the
logits and its learning rule. The logits are the sum of the active components'
terms in `COMPONENTS` order; each learning rule sees the joint prediction's
outcome at the output (`Outcome`) and its own features, nothing else: no error
is propagated between components, and no gradient is taken anywhere.

Everything that handles the model's parts iterates over `COMPONENTS`:
`model.init_params`, `model.param_specs` / `param_shardings`, `model.forward`
(so `log_probs` and generation), `hebbian.hebbian_step`, and through them the
checkpoints' abstract state. A component's settings are a frozen-dataclass field
of `model.ModelConfig` (named by `Component.config`) whose default turns it off,
so a checkpoint whose meta predates the component loads as the model it was
(`ModelConfig.from_json`, `config_schema.model_config_from` and the resume checks read
the nested configs generically). docs/fieldjax.md, "Adding a component", shows
the one registration.

The registry is read when a function is traced: change it before jitting the model
(a test that registers a component clears JAX's caches around it).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import crystal
from fieldjax import embeddings
from fieldjax import field as field_lib
from fieldjax import recall as recall_lib
from fieldjax import sites as sites_lib
from landauerjax.core import sharding

if TYPE_CHECKING:  # Annotations only: fieldjax.model imports this module.
  from fieldjax.model import ModelConfig

Params = dict[str, jax.Array]
P = jax.sharding.PartitionSpec


class Batch(NamedTuple):
  """What the forward pass hands every component: B sequences after their field's evolution.

  `positions` turns a per-position array [B, T, ...] into the N rows the logits have
  (N = B T; B with `last_only`, each sequence's last position).
  """
  tokens_BxT: jax.Array         # int32 token ids.
  valid_BxT: jax.Array | None   # bool, real tokens (False: left padding); None: all.
  x_BxTxD: jax.Array            # The evolved particles x', compute dtype.
  mass_BxT: jax.Array           # Each particle's mass (`model.token_masses`; 0 for padding).
  last_only: bool               # Static: only each sequence's last position is read.

  def positions(self, a_BxTx: jax.Array) -> jax.Array:
    """[B, T, ...] -> [N, ...], batch-major."""
    a = a_BxTx[:, -1:] if self.last_only else a_BxTx
    return a.reshape(-1, *a.shape[2:])


class Outcome(NamedTuple):
  """What a learning rule sees at the output: the joint prediction of N positions."""
  targets_N: jax.Array   # int32, the tokens that came next.
  probs_NxV: jax.Array   # p, the softmax of the summed logits (float32).
  error_NxV: jax.Array   # onehot(target) - p: the delta rule's error.


@dataclasses.dataclass(frozen=True)
class Component:
  """One part of the model. Parameter names must be unique across components ('counts',
  the token counts, belongs to the model itself).

  Attributes:
    name: key of its features in `model.Intermediates.features`.
    enabled: cfg -> whether this config has it (parameters, features, logits, rule).
    init: (cfg, key) -> its fresh parameters. `key` is the model's init key, shared by
      all components: one that draws must fold in something of its own (the crystal,
      first, draws from it directly, as before the registry, so seeds keep their lattice).
    specs: cfg -> a PartitionSpec per parameter, over the (data, model) mesh axes
      (`landauerjax.core.sharding`).
    features: (params, batch, cfg) -> a pytree of [N, ...] arrays: what it reads.
    logits: (params, features, cfg) -> float32 [N, V], its term of the logits.
    learn: (params, features, outcome, cfg) -> new values of its parameters after one
      Hebbian step (those it leaves out stay as they are).
    config: the ModelConfig field that holds its settings, or None.
  """
  name: str
  enabled: Callable[['ModelConfig'], bool]
  init: Callable[['ModelConfig', jax.Array], Params]
  specs: Callable[['ModelConfig'], dict[str, P]]
  features: Callable[[Params, Batch, 'ModelConfig'], Any]
  logits: Callable[[Params, Any, 'ModelConfig'], jax.Array]
  learn: Callable[[Params, Any, Outcome, 'ModelConfig'], Params]
  config: str | None = None


def _embedding_table(cfg: ModelConfig) -> jax.Array:
  """E, the fixed unit-norm token embeddings [V, d] (as `model.embedding_table`)."""
  return jnp.asarray(embeddings.embedding_table(cfg.embedding, cfg.vocab_size, cfg.embed_dim))


# ---------------------------------------------------------------------------
# The dense crystal: lattice sites over the field's neighbourhood, crystal W, readout.
# ---------------------------------------------------------------------------


class Lattice(NamedTuple):
  """The dense crystal's reading of N positions (`fieldjax.crystal`)."""
  c_NxF: jax.Array     # Lattice input: K lagged particles and J traces, compute dtype.
  h_NxD: jax.Array     # The sites' rectified response, float32.
  phi_NxD: jax.Array   # Centred features of norm cfg.feature_norm, float32.


def lattice_input(x_TxD: jax.Array, cfg: ModelConfig) -> jax.Array:
  """What the lattice reads at each position of one sequence: c [T, (K + J) d].

  The K lagged particles [x_t, ..., x_{t-K+1}] (zeros before the start) and
  the field's J traces at time t (`fieldjax.field.traces`; none when J = 0).
  Left padding stays at the origin (massless particles feel only each other),
  so its lags and traces are the zeros training sees before a sequence's start.
  """
  lagged = crystal.lagged(x_TxD, cfg.lags)
  if not cfg.field.trace_scales:
    return lagged
  return jnp.concatenate([lagged, field_lib.traces(x_TxD, cfg.field.trace_scales)], axis=-1)


def _crystal_init(cfg: ModelConfig, key: jax.Array) -> Params:
  inputs = cfg.lags + cfg.field.trace_scales
  k_lattice, k_bias = jax.random.split(key)
  # The input is K + J vectors of norm <= 1 (|c| ~ sqrt(K + J)): unit-variance responses.
  lattice = jax.random.normal(k_lattice, (inputs * cfg.embed_dim, cfg.lattice_dim)) / np.sqrt(inputs)
  return {'lattice': lattice,
          'lattice_bias': jax.random.uniform(k_bias, (cfg.lattice_dim,), minval=-0.5, maxval=0.5),
          'crystal': jnp.zeros((cfg.lattice_dim, cfg.embed_dim), jnp.float32)}


def _crystal_specs(cfg: ModelConfig) -> dict[str, P]:
  # Split along the lattice sites D, their largest axis: memory per device falls ~1/model.
  del cfg
  return {'lattice': P(None, sharding.MODEL), 'lattice_bias': P(sharding.MODEL),
          'crystal': P(sharding.MODEL, None)}


def _crystal_features(params: Params, batch: Batch, cfg: ModelConfig) -> Lattice:
  # One [N, F] x [F, D] matmul for the whole batch (not one per sequence).
  c_NxF = batch.positions(jax.vmap(lambda x: lattice_input(x, cfg))(batch.x_BxTxD))
  c_NxF = c_NxF.astype(cfg.compute_dtype)
  h_NxD = crystal.lattice_response(c_NxF, params['lattice'], params['lattice_bias'])
  return Lattice(c_NxF, h_NxD, crystal.features_of_response(h_NxD, cfg.feature_norm))


def _crystal_logits(params: Params, lattice: Lattice, cfg: ModelConfig) -> jax.Array:
  # The readout's base is the prior of the model's token counts, ln p(v).
  return crystal.readout_logits(lattice.phi_NxD, params['crystal'], _embedding_table(cfg),
                                crystal.log_prior(params['counts']))


def _crystal_learn(params: Params, lattice: Lattice, outcome: Outcome,
                   cfg: ModelConfig) -> Params:
  post_NxE = crystal.postsynaptic(outcome.probs_NxV, outcome.targets_N, _embedding_table(cfg),
                                  cfg.hebbian_rule)
  new = {'crystal': crystal.crystal_update(params['crystal'], lattice.phi_NxD, post_NxE,
                                           cfg.eta, cfg.decay)}
  if cfg.lattice_rule == 'instar':
    new['lattice'] = crystal.instar_update(params['lattice'], lattice.c_NxF, lattice.h_NxD,
                                           cfg.lattice_winners, cfg.lattice_rate)
  return new


CRYSTAL = Component(
    name='crystal', enabled=lambda cfg: True, init=_crystal_init, specs=_crystal_specs,
    features=_crystal_features, logits=_crystal_logits, learn=_crystal_learn)


# ---------------------------------------------------------------------------
# The sparse crystal: hashed context sites (`fieldjax.sites`).
# ---------------------------------------------------------------------------


def _sites_init(cfg: ModelConfig, key: jax.Array) -> Params:
  del key
  return {'site_table': jnp.zeros((cfg.sites.num_sites, cfg.vocab_size), jnp.float32),
          'site_visits': jnp.zeros((cfg.sites.num_sites,), jnp.float32)}


def _sites_specs(cfg: ModelConfig) -> dict[str, P]:
  del cfg
  return {'site_table': P(sharding.MODEL, None), 'site_visits': P(sharding.MODEL)}


def _sites_features(params: Params, batch: Batch, cfg: ModelConfig
                    ) -> tuple[jax.Array, jax.Array]:
  """(rows int32 [N, O], active bool [N, O])."""
  del params
  rows_BxTxO, active_BxTxO = jax.vmap(lambda t, v: sites_lib.addresses(t, v, cfg.sites))(
      batch.tokens_BxT, batch.valid_BxT)
  return batch.positions(rows_BxTxO), batch.positions(active_BxTxO)


def _sites_learn(params: Params, sites: tuple[jax.Array, jax.Array], outcome: Outcome,
                 cfg: ModelConfig) -> Params:
  table, visits = sites_lib.site_update(params['site_table'], params['site_visits'], *sites,
                                        outcome.error_NxV, cfg.sites)
  return {'site_table': table, 'site_visits': visits}


SITES = Component(
    name='sites', enabled=lambda cfg: cfg.sites.enabled, init=_sites_init, specs=_sites_specs,
    features=_sites_features,
    logits=lambda params, sites, cfg: sites_lib.site_logits(params['site_table'], *sites),
    learn=_sites_learn, config='sites')


# ---------------------------------------------------------------------------
# Recall through the field's pull (`fieldjax.recall`).
# ---------------------------------------------------------------------------


def _recall_features(params: Params, batch: Batch, cfg: ModelConfig
                     ) -> tuple[jax.Array, jax.Array]:
  """(f - mean f, float32 [N, V]; gain index, int32 [N]). With `last_only` each window
  computes its last query alone (O(T), not O(T^2)). With charges (recall.dt > 0) the pull
  carries the sources' masses, as gravity's does."""
  del params
  settings = cfg.recall

  def one(x_TxD, tokens_T, valid_T, mass_T):
    z = x_TxD
    if settings.trace_scales:
      z = jnp.concatenate([x_TxD, field_lib.traces(x_TxD, settings.trace_scales)], axis=-1)
    return recall_lib.recall_features(
        z, tokens_T, valid_T, cfg.vocab_size, settings,
        mass_T=mass_T if settings.dt > 0 else None, num_steps=cfg.field.num_steps,
        num_queries=1 if batch.last_only else None)

  f_BxQxV, bucket_BxQ = jax.vmap(one)(batch.x_BxTxD, batch.tokens_BxT, batch.valid_BxT,
                                      batch.mass_BxT)
  return f_BxQxV.reshape(-1, cfg.vocab_size), bucket_BxQ.reshape(-1)


RECALL = Component(
    name='recall', enabled=lambda cfg: cfg.recall.enabled,
    init=lambda cfg, key: {'recall_gain': jnp.zeros((cfg.recall.buckets,), jnp.float32)},
    specs=lambda cfg: {'recall_gain': P()},  # 8 numbers: on every device.
    features=_recall_features,
    logits=lambda params, recall, cfg: recall_lib.recall_logits(params['recall_gain'], *recall),
    learn=lambda params, recall, outcome, cfg: {'recall_gain': recall_lib.gain_update(
        params['recall_gain'], *recall, outcome.error_NxV, cfg.recall.rate)},
    config='recall')


# The registration point: the model's parts, in the order their logits are summed.
COMPONENTS: tuple[Component, ...] = (CRYSTAL, SITES, RECALL)


def active(cfg: ModelConfig) -> tuple[Component, ...]:
  """The registered components this config has, in registry order."""
  return tuple(c for c in COMPONENTS if c.enabled(cfg))
