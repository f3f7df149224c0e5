"""Tiny field LM shapes and jitted entry points shared by the tests/test_field_*.py files.

Tiny shapes throughout (V = 11, d = 8, D = 32 unless a test needs more), so each
file runs in seconds on CPU; compilation dominates.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import collapse as collapse_lib
from fieldjax import field
from fieldjax import model
from fieldjax import perturbations
from fieldjax import sites
from landauerjax import input_pipeline

from conftest import small_corpus

TINY_FIELD = field.FieldConfig(chunk=4, window=8)

# Jitted entry points: one compile per shape and config (eager dispatch of the
# un-jitted functions compiles every primitive separately, which is slower).
field_step = jax.jit(field.field_step, static_argnames=('cfg',))
full_gravity_matrix = jax.jit(field.full_gravity_matrix, static_argnames=('cfg',))
log_probs = jax.jit(model.log_probs, static_argnames=('cfg',))
coherence = jax.jit(collapse_lib.coherence)


@functools.partial(jax.jit, static_argnames=('cfg',))
def features(params: dict[str, jax.Array], tokens_T: jax.Array, key: jax.Array,
             kind: jax.Array, cfg: model.ModelConfig) -> tuple[jax.Array, jax.Array]:
  """One sequence's lattice features phi [T, D] and field coherence [S + 1], from the forward."""
  out = model.forward(params, tokens_T[None], key, kind, cfg)
  return out.features['crystal'].phi_NxD, out.coherence_BxS1[0]


TINY = model.ModelConfig(vocab_size=11, embed_dim=8, lags=3, lattice_dim=32,
                         field=TINY_FIELD)
# TINY with the field's traces and a sparse crystal of 256 sites (field_best.py's parts).
SPARSE = dataclasses.replace(TINY, field=dataclasses.replace(TINY_FIELD, trace_scales=2),
                             sites=sites.SitesConfig(table_bits=8, orders=(1, 2, 3)))


def kind_index(kind: str) -> jax.Array:
  return jnp.int32(perturbations.KINDS.index(kind))


def random_field(length: int, dim: int, seed: int = 0) -> tuple[jax.Array, jax.Array]:
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.uniform(-1.5, 1.5, (length, dim)), jnp.float32)
  mass = jnp.asarray(rng.uniform(0.5, 2.0, length), jnp.float32)
  return x, mass


def trained_like_params(cfg: model.ModelConfig, seed: int = 0) -> dict[str, jax.Array]:
  """init_params with a non-zero crystal and uneven counts (so outputs depend on inputs)."""
  params = model.init_params(cfg, jax.random.PRNGKey(seed))
  rng = np.random.default_rng(seed)
  params['crystal'] = jnp.asarray(
      rng.standard_normal((cfg.lattice_dim, cfg.embed_dim)), jnp.float32)
  params['counts'] = jnp.asarray(rng.integers(1, 20, cfg.vocab_size), jnp.float32)
  if cfg.sites.enabled:
    params['site_table'] = jnp.asarray(
        rng.standard_normal((cfg.sites.num_sites, cfg.vocab_size)), jnp.float32)
  return params


def char_corpus(model_cfg: model.ModelConfig) -> tuple[model.ModelConfig, np.ndarray, np.ndarray]:
  """(model_cfg with the vocabulary of conftest.small_corpus, train tokens [N], validation
  tokens [M]): the small corpus split 90/10 at the character level."""
  text = small_corpus()
  vocab = input_pipeline.CharVocab.from_texts(text)
  tokens = vocab.encode(text)
  cut = int(0.9 * len(tokens))
  return dataclasses.replace(model_cfg, vocab_size=vocab.size), tokens[:cut], tokens[cut:]


def shrunk_config(config: Any, small_corpus_path: str, data_dir: str, num_steps: int = 4) -> Any:
  """A field config file's config shrunk to the model and shapes of test_reliability.py's
  field runs (the same compiled programs for field_tiny.py), on the small local corpus."""
  config.data.dataset = 'local_text'
  config.data.local_path = small_corpus_path
  config.data.data_dir = data_dir
  config.model.embed_dim, config.model.lags, config.model.lattice_dim = 8, 3, 32
  config.model.field.chunk = config.model.field.window = 8
  config.model.field.num_steps = 1
  config.train.num_steps, config.train.batch_size, config.train.seq_len = num_steps, 4, 8
  config.train.perturbation_schedule = {0: 'beta', 2: 'levy'}
  config.eval.every = config.checkpoint.every = 2
  config.eval.stride, config.eval.max_tokens, config.eval.batch_size = 8, 64, 16
  config.log_every = 1
  return config
