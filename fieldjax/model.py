"""The field-theoretic LM: configuration, parameters and the forward pass.

Per sequence (vmapped over the batch by callers):

  tokens [T] --embed--> x [T, d] --field evolution, num_steps, perturbed--> x' [T, d]
        --lags + traces + lattice--> phi [T, D] --crystal W + readout--> logits [T, V]
  tokens [T] --hashed contexts--> active sites [T, O] --sparse crystal M--> + logits [T, V]
  x' [T, d] + traces --pull of earlier particles, their successors--> recall --gains--> + logits

Parameters (a dict; everything is float32 and learned without gradients):
  'lattice' [(K + J) d, D], 'lattice_bias' [D]: the lattice sites (random at
      initialisation; fixed, or learned by the competitive instar rule when
      lattice_rule = 'instar' (`crystal.instar_update`); see docs/fieldjax.md;
      J = the field's trace time scales);
  'crystal' [D, d]: the Hebbian crystal memory;
  'counts' [V]: token counts (give the masses and the readout's prior);
  'site_table' [R, V], 'site_visits' [R]: the sparse crystal (`fieldjax.sites`),
      present only when config.sites.table_bits > 0;
  'recall_gain' [B]: recall's gains (`fieldjax.recall`), present only when
      config.recall.softening > 0.

Sizes. `SIZES` fixes d, K and D; parameter counts are nearly independent of
the vocabulary (the readout uses the fixed embeddings), so small/base/large
are within 10% of 50M/350M/750M for any V up to 65k (tests check them with
`jax.eval_shape`, which allocates nothing).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import collapse as collapse_lib
from fieldjax import constants
from fieldjax import crystal
from fieldjax import embeddings
from fieldjax import field
from fieldjax import perturbations
from fieldjax import recall as recall_lib
from fieldjax import sites as sites_lib
from landauerjax.core import sharding

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float16': jnp.float16}

# (embed_dim d, lags K, lattice_dim D). 'tiny' is for tests and CPU runs.
SIZES: dict[str, dict[str, int]] = {
    'tiny': {'embed_dim': 64, 'lags': 8, 'lattice_dim': 4096},
    'small': {'embed_dim': 256, 'lags': 8, 'lattice_dim': 20480},
    'base': {'embed_dim': 512, 'lags': 8, 'lattice_dim': 73728},
    'large': {'embed_dim': 768, 'lags': 8, 'lattice_dim': 106496},
}
LATTICE_RULES = ('fixed', 'instar')
NOMINAL_PARAMS = {'small': 50e6, 'base': 350e6, 'large': 750e6}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Everything that defines a field LM (hashable: a static jit argument)."""
  vocab_size: int
  embed_dim: int = 64
  lags: int = 8
  lattice_dim: int = 4096
  embedding: str = 'golden'
  feature_norm: float = 16.0
  hebbian_rule: str = 'contrastive'
  eta: float = constants.HEBBIAN_RATE
  decay: float = 1e-4
  lattice_rule: str = 'fixed'  # | 'instar': competitive Hebbian learning of the lattice.
  lattice_rate: float = 0.1   # The instar rule's rate, in [0, 1].
  lattice_winners: int = 16   # Sites that learn per position under the instar rule.
  dtype: str = 'float32'
  field: field.FieldConfig = field.FieldConfig()
  perturbation: perturbations.PerturbationConfig = perturbations.PerturbationConfig()
  collapse: collapse_lib.CollapseConfig = collapse_lib.CollapseConfig()
  sites: sites_lib.SitesConfig = sites_lib.SitesConfig()
  recall: recall_lib.RecallConfig = recall_lib.RecallConfig()

  def __post_init__(self):
    if self.vocab_size < 2:
      raise ValueError(f'vocab_size must be >= 2, got {self.vocab_size}.')
    if self.embedding not in embeddings.EMBEDDINGS:
      raise ValueError(f'Unknown embedding {self.embedding!r}; expected one of '
                       f'{embeddings.EMBEDDINGS}.')
    if self.hebbian_rule not in crystal.RULES:
      raise ValueError(f'Unknown Hebbian rule {self.hebbian_rule!r}; expected '
                       f'one of {crystal.RULES}.')
    if self.lattice_rule not in LATTICE_RULES:
      raise ValueError(f'Unknown lattice_rule {self.lattice_rule!r}; expected one of '
                       f'{LATTICE_RULES}.')
    if not 0 <= self.lattice_rate <= 1 or not 1 <= self.lattice_winners <= self.lattice_dim:
      raise ValueError(f'lattice_rate must be in [0, 1] and lattice_winners in [1, '
                       f'lattice_dim = {self.lattice_dim}], got {self.lattice_rate} and '
                       f'{self.lattice_winners}.')
    if self.dtype not in DTYPES:
      raise ValueError(f'Unknown dtype {self.dtype!r}; expected one of {sorted(DTYPES)}.')
    for name in ('embed_dim', 'lags', 'lattice_dim'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}.')

  @property
  def compute_dtype(self):
    return DTYPES[self.dtype]

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, obj: dict[str, Any]) -> 'ModelConfig':
    obj = dict(obj)
    obj['field'] = field.FieldConfig(**obj['field'])
    obj['perturbation'] = perturbations.PerturbationConfig(**obj['perturbation'])
    obj['collapse'] = collapse_lib.CollapseConfig(**obj['collapse'])
    # Runs recorded before the sparse crystal have no 'sites': it was off.
    obj['sites'] = sites_lib.SitesConfig(**obj.get('sites', {}))
    obj['recall'] = recall_lib.RecallConfig(**obj.get('recall', {}))  # Likewise: off.
    return cls(**obj)


def config_for_size(size: str, vocab_size: int, **overrides: Any) -> ModelConfig:
  """The ModelConfig of a named size; `overrides` replace any field."""
  if size not in SIZES:
    raise ValueError(f'Unknown model size {size!r}; expected one of {sorted(SIZES)}.')
  kwargs = {**SIZES[size], **overrides}
  return ModelConfig(vocab_size=vocab_size, **kwargs)


def init_params(cfg: ModelConfig, key: jax.Array) -> dict[str, jax.Array]:
  """Fresh parameters: random lattice, empty crystals, one count per token."""
  inputs = cfg.lags + cfg.field.trace_scales
  k_lattice, k_bias = jax.random.split(key)
  # The input is K + J vectors of norm <= 1 (|c| ~ sqrt(K + J)): unit-variance responses.
  lattice = jax.random.normal(k_lattice, (inputs * cfg.embed_dim, cfg.lattice_dim)) / np.sqrt(inputs)
  sparse = ({'site_table': jnp.zeros((cfg.sites.num_sites, cfg.vocab_size), jnp.float32),
             'site_visits': jnp.zeros((cfg.sites.num_sites,), jnp.float32)}
            if cfg.sites.enabled else {})
  if cfg.recall.enabled:
    sparse['recall_gain'] = jnp.zeros((cfg.recall.buckets,), jnp.float32)
  return {**sparse,
      'lattice': lattice,
      'lattice_bias': jax.random.uniform(k_bias, (cfg.lattice_dim,), minval=-0.5, maxval=0.5),
      'crystal': jnp.zeros((cfg.lattice_dim, cfg.embed_dim), jnp.float32),
      'counts': jnp.ones((cfg.vocab_size,), jnp.float32),
  }


def param_shardings(mesh: jax.sharding.Mesh, cfg: ModelConfig | None = None
                    ) -> dict[str, jax.sharding.NamedSharding]:
  """Where each parameter lives on a (data, model) mesh (landauerjax.core.sharding).

  The lattice [(K + J) d, D], its bias [D] and the crystal [D, d] are split
  along the lattice sites D over the `model` axis (D is their largest axis:
  memory per device falls ~1/model for them); the counts [V] are replicated.
  The sparse crystal's sites (when `cfg` has them) are split along R. Every
  parameter is replicated over `data`.
  """
  named = lambda *spec: jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec))
  sparse = ({'site_table': named(sharding.MODEL, None), 'site_visits': named(sharding.MODEL)}
            if cfg is not None and cfg.sites.enabled else {})
  if cfg is not None and cfg.recall.enabled:
    sparse['recall_gain'] = named()
  return {'lattice': named(None, sharding.MODEL), 'lattice_bias': named(sharding.MODEL),
          'crystal': named(sharding.MODEL, None), 'counts': named(), **sparse}


def param_count(cfg: ModelConfig) -> int:
  """Number of parameters, counted on shapes alone (jax.eval_shape)."""
  shapes = jax.eval_shape(lambda k: init_params(cfg, k), jax.random.PRNGKey(0))
  return int(sum(np.prod(s.shape) for s in jax.tree_util.tree_leaves(shapes)))


def embedding_table(cfg: ModelConfig) -> jax.Array:
  """The fixed unit-norm token embeddings E, float32 [V, d]."""
  return jnp.asarray(embeddings.embedding_table(cfg.embedding, cfg.vocab_size,
                                                cfg.embed_dim))


def token_masses(counts_V: jax.Array) -> jax.Array:
  """Mass of each token: its information content in units of ln V, [V].

  m_v = -ln p(v) / ln V: 1 for every token under a uniform distribution,
  heavier for rare (informative) tokens, lighter for common ones.
  """
  return -crystal.log_prior(counts_V) / jnp.log(counts_V.shape[0])


def evolve(x_TxD: jax.Array, mass_T: jax.Array, key: jax.Array,
           kind_index: jax.Array, cfg: ModelConfig) -> tuple[jax.Array, jax.Array]:
  """Runs the perturbed field evolution of one sequence.

  Returns:
    (x [T, d] after cfg.field.num_steps steps, coherence [num_steps + 1] of the
    field before each step and at the end).
  """
  def one_step(x, step_key):
    # The adaptive mix of particle t uses the coherence of particles 0..t only,
    # so perturbations keep the field causal.
    c_T = collapse_lib.causal_coherence(x)
    x, dt = perturbations.perturb_by_index(kind_index, step_key, x, c_T[:, None],
                                           cfg.perturbation)
    return field.field_step(x, mass_T, dt[:, 0], cfg.field), c_T[-1]

  keys = jax.random.split(key, max(cfg.field.num_steps, 1))[:cfg.field.num_steps]
  x, coherences = jax.lax.scan(one_step, x_TxD, keys)
  return x, jnp.concatenate([coherences, collapse_lib.coherence(x)[None]])


def evolved_field(params: dict[str, jax.Array], tokens_T: jax.Array, key: jax.Array,
                  kind_index: jax.Array, cfg: ModelConfig,
                  valid_T: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """Embeds one sequence and runs its field: (x [T, d], coherence [S + 1]).

  `valid_T` (bool) marks real tokens; invalid ones (left padding) become
  massless particles at the origin, exactly like the zeros before a
  sequence's start, so a right-aligned prompt sees what training saw.
  """
  x = embedding_table(cfg)[tokens_T]
  mass_T = token_masses(params['counts'])[tokens_T]
  if valid_T is not None:
    x = jnp.where(valid_T[:, None], x, 0.0)
    mass_T = jnp.where(valid_T, mass_T, 0.0)
  return evolve(x.astype(cfg.compute_dtype), mass_T, key, kind_index, cfg)


def lattice_input(x_TxD: jax.Array, cfg: ModelConfig) -> jax.Array:
  """What the lattice reads at each position: c [T, (K + J) d].

  The K lagged particles [x_t, ..., x_{t-K+1}] (zeros before the start) and
  the field's J traces at time t (`fieldjax.field.traces`; none when J = 0).
  """
  lagged = crystal.lagged(x_TxD, cfg.lags)
  if not cfg.field.trace_scales:
    return lagged
  return jnp.concatenate([lagged, field.traces(x_TxD, cfg.field.trace_scales)], axis=-1)


def lattice_of(params: dict[str, jax.Array], c_NxF: jax.Array, cfg: ModelConfig) -> jax.Array:
  """Lattice features phi [N, D] (float32) of lattice inputs c [N, (K + J) d]."""
  return crystal.lattice_features(c_NxF.astype(cfg.compute_dtype), params['lattice'],
                                  params['lattice_bias'], cfg.feature_norm)


def features(params: dict[str, jax.Array], tokens_T: jax.Array, key: jax.Array,
             kind_index: jax.Array, cfg: ModelConfig,
             valid_T: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """Lattice features of one sequence: (phi [T, D] float32, coherence [S + 1])."""
  x, coherences = evolved_field(params, tokens_T, key, kind_index, cfg, valid_T)
  return lattice_of(params, lattice_input(x, cfg), cfg), coherences


Sites = tuple[jax.Array, jax.Array]  # (rows int32 [..., O], active bool [..., O])


def site_addresses(tokens_T: jax.Array, cfg: ModelConfig,
                   valid_T: jax.Array | None = None) -> Sites | None:
  """The sparse crystal's active sites of one sequence; None when it is off."""
  return sites_lib.addresses(tokens_T, valid_T, cfg.sites) if cfg.sites.enabled else None


Recall = tuple[jax.Array, jax.Array]  # (f [..., V], gain index int32 [...])


def recall_of(params: dict[str, jax.Array], x_TxD: jax.Array, tokens_T: jax.Array,
              cfg: ModelConfig, valid_T: jax.Array | None = None,
              num_queries: int | None = None) -> Recall | None:
  """Recall's features of one window's positions (its last `num_queries`; None: all)
  (`fieldjax.recall`); None when recall is off. With charges (recall.dt > 0) the pull
  carries the sources' masses, as gravity's does (`token_masses` of params['counts'])."""
  if not cfg.recall.enabled:
    return None
  z = x_TxD
  if cfg.recall.trace_scales:
    z = jnp.concatenate([x_TxD, field.traces(x_TxD, cfg.recall.trace_scales)], axis=-1)
  mass_T = token_masses(params['counts'])[tokens_T] if cfg.recall.dt > 0 else None
  return recall_lib.recall_features(z, tokens_T, valid_T, cfg.vocab_size, cfg.recall,
                                    mass_T=mass_T, num_steps=cfg.field.num_steps,
                                    num_queries=num_queries)


def logits_from_features(params: dict[str, jax.Array], phi_TxD: jax.Array,
                         cfg: ModelConfig, sites: Sites | None = None,
                         recall: Recall | None = None) -> jax.Array:
  """Next-token logits [T, V]: the dense crystal's readout plus the active sites' rows
  plus recall."""
  logits = crystal.readout_logits(phi_TxD, params['crystal'], embedding_table(cfg),
                                  crystal.log_prior(params['counts']))
  if sites is not None:
    logits = logits + sites_lib.site_logits(params['site_table'], *sites)
  if recall is not None:
    logits = logits + recall_lib.recall_logits(params['recall_gain'], *recall)
  return logits


_NONE = perturbations.KINDS.index('none')


def log_probs(params: dict[str, jax.Array], tokens_BxT: jax.Array,
              cfg: ModelConfig) -> jax.Array:
  """Unperturbed next-token log-probabilities, float32 [B, T, V].

  Position t predicts token t + 1 from tokens 0..t.
  """
  key = jax.random.PRNGKey(0)  # Unused by the 'none' perturbation.

  def one(tokens_T):
    x, _ = evolved_field(params, tokens_T, key, jnp.int32(_NONE), cfg)
    phi = lattice_of(params, lattice_input(x, cfg), cfg)
    return jax.nn.log_softmax(logits_from_features(
        params, phi, cfg, site_addresses(tokens_T, cfg), recall_of(params, x, tokens_T, cfg)))

  return jax.vmap(one)(tokens_BxT)
