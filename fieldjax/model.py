"""The field-theoretic LM: configuration, parameters and the forward pass.

`forward` runs B sequences (training, evaluation and generation all call it):

  tokens [T] --embed--> x [T, d] --field evolution, num_steps, perturbed--> x' [T, d]
  then each active component (`fieldjax.components`) reads the batch and adds a term:
    crystal: x' --lags + traces + lattice--> phi [T, D] --crystal W + readout--> ln prior + ...
    sites:   tokens --hashed contexts--> active sites [T, O] --sparse crystal M--> + rows
    recall:  x' + traces --pull of earlier particles, their successors--> + gains x charges
  logits [T, V] = the sum of the terms, in `components.COMPONENTS` order.

Parameters (a dict; everything is float32 and learned without gradients):
  'counts' [V]: token counts (give the masses and the readout's prior);
  and each active component's (`init_params`):
  'lattice' [(K + J) d, D], 'lattice_bias' [D]: the lattice sites (random at
      initialisation; fixed, or learned by the competitive instar rule when
      lattice_rule = 'instar' (`crystal.instar_update`); see docs/fieldjax.md;
      J = the field's trace time scales);
  'crystal' [D, d]: the Hebbian crystal memory;
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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import collapse as collapse_lib
from fieldjax import components
from fieldjax import constants
from fieldjax import crystal
from fieldjax import embeddings
from fieldjax import field
from fieldjax import perturbations
from fieldjax import recall as recall_lib
from fieldjax import sites as sites_lib

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
    for name, config_type in nested_configs().items():
      # A part added after a run was recorded (the sparse crystal, recall, ...) is missing
      # from that run's meta: its default, which turns the part off, is the model it was.
      obj[name] = config_type(**obj.get(name, {}))
    return cls(**obj)


def nested_configs() -> dict[str, type]:
  """ModelConfig's nested settings, {field name: its frozen dataclass}: the field,
  perturbation, collapse and the components' (`components.Component.config`)."""
  return {f.name: type(f.default) for f in dataclasses.fields(ModelConfig)
          if dataclasses.is_dataclass(f.default)}


def config_for_size(size: str, vocab_size: int, **overrides: Any) -> ModelConfig:
  """The ModelConfig of a named size; `overrides` replace any field."""
  if size not in SIZES:
    raise ValueError(f'Unknown model size {size!r}; expected one of {sorted(SIZES)}.')
  kwargs = {**SIZES[size], **overrides}
  return ModelConfig(vocab_size=vocab_size, **kwargs)


def init_params(cfg: ModelConfig, key: jax.Array) -> dict[str, jax.Array]:
  """Fresh parameters: one count per token, then each active component's
  (`fieldjax.components`: a random lattice and empty crystals)."""
  params = {'counts': jnp.ones((cfg.vocab_size,), jnp.float32)}
  for component in components.active(cfg):
    new = component.init(cfg, key)
    _check_unique(params, new, component)
    params.update(new)
  return params


def param_specs(cfg: ModelConfig) -> dict[str, jax.sharding.PartitionSpec]:
  """Each parameter's PartitionSpec over a (data, model) mesh (landauerjax.core.sharding).

  The counts [V] are replicated; each component says where its own live (the dense
  crystal's lattice, bias and W are split along the lattice sites D over `model`, the
  sparse crystal's sites along R, recall's gains replicated). Nothing is split over
  `data`: every parameter is replicated there.
  """
  specs = {'counts': jax.sharding.PartitionSpec()}
  for component in components.active(cfg):
    new = component.specs(cfg)
    _check_unique(specs, new, component)
    specs.update(new)
  return specs


def param_shardings(mesh: jax.sharding.Mesh, cfg: ModelConfig
                    ) -> dict[str, jax.sharding.NamedSharding]:
  """Where each parameter lives on `mesh`: `param_specs` as NamedShardings."""
  return {name: jax.sharding.NamedSharding(mesh, spec)
          for name, spec in param_specs(cfg).items()}


def _check_unique(have: dict[str, Any], new: dict[str, Any],
                  component: components.Component) -> None:
  clash = sorted(have.keys() & new.keys())
  if clash:
    raise ValueError(f'Component {component.name!r} names parameters {clash} that another '
                     'part of the model already has.')


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


class Intermediates(NamedTuple):
  """What one forward pass computed; a pytree, so it can leave a jitted function.

  N = B T positions, batch-major (B with `last_only`: each sequence's last).
  """
  x_BxTxD: jax.Array          # The evolved particles x' (compute dtype).
  coherence_BxS1: jax.Array   # Field coherence before each of the S steps and at the end.
  features: dict[str, Any]    # Each active component's reading of the N positions, by name
                              # ('crystal': components.Lattice; 'sites': (rows, active);
                              # 'recall': (f, gain index)).
  logits_NxV: jax.Array       # Next-token logits: the sum of the components' terms, float32.


def forward(params: dict[str, jax.Array], tokens_BxT: jax.Array, key: jax.Array,
            kind_index: jax.Array, cfg: ModelConfig, valid_BxT: jax.Array | None = None,
            last_only: bool = False) -> Intermediates:
  """The forward pass of B sequences: the one that training, evaluation and generation run.

  Embeds each sequence, runs its perturbed field (`evolve`, vmapped: sequence b
  gets the b-th key of jax.random.split(key, B)), then lets every active
  component (`fieldjax.components`) read the result and sums their logits.
  Position t predicts token t + 1 from tokens 0..t.

  Args:
    params: model parameters (module docstring).
    tokens_BxT: int32 token ids.
    key: PRNG key of the perturbations (unused by 'none').
    kind_index: int32 scalar, index into perturbations.KINDS.
    cfg: the model config (static under jit).
    valid_BxT: bool, real tokens; invalid ones (left padding) become massless
      particles at the origin, exactly like the zeros before a sequence's start,
      so a right-aligned prompt sees what training saw. None: all real.
    last_only: read and predict only each sequence's last position (generation;
      static under jit).
  """
  table_VxD = embedding_table(cfg)
  masses_V = token_masses(params['counts'])

  def embed_and_evolve(tokens_T, valid_T, seq_key):
    x_TxD, mass_T = table_VxD[tokens_T], masses_V[tokens_T]
    if valid_T is not None:
      x_TxD = jnp.where(valid_T[:, None], x_TxD, 0.0)
      mass_T = jnp.where(valid_T, mass_T, 0.0)
    x_TxD, coherence_S1 = evolve(x_TxD.astype(cfg.compute_dtype), mass_T, seq_key,
                                 kind_index, cfg)
    return x_TxD, mass_T, coherence_S1

  keys = jax.random.split(key, tokens_BxT.shape[0])
  x_BxTxD, mass_BxT, coherence_BxS1 = jax.vmap(embed_and_evolve)(tokens_BxT, valid_BxT, keys)
  batch = components.Batch(tokens_BxT, valid_BxT, x_BxTxD, mass_BxT, last_only)
  features, logits_NxV = {}, None
  for component in components.active(cfg):
    features[component.name] = component.features(params, batch, cfg)
    term_NxV = component.logits(params, features[component.name], cfg)
    logits_NxV = term_NxV if logits_NxV is None else logits_NxV + term_NxV
  return Intermediates(x_BxTxD, coherence_BxS1, features, logits_NxV)


_NONE = perturbations.KINDS.index('none')


def log_probs(params: dict[str, jax.Array], tokens_BxT: jax.Array,
              cfg: ModelConfig) -> jax.Array:
  """Unperturbed next-token log-probabilities, float32 [B, T, V].

  Position t predicts token t + 1 from tokens 0..t.
  """
  out = forward(params, tokens_BxT, jax.random.PRNGKey(0), jnp.int32(_NONE), cfg)
  return jax.nn.log_softmax(out.logits_NxV).reshape(*tokens_BxT.shape, cfg.vocab_size)
