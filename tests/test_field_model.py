"""fieldjax.model: sizes, parameter counts, config round trips, log-probs, masses."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from field_fixtures import TINY
from field_fixtures import log_probs
from field_fixtures import trained_like_params
from fieldjax import collapse as collapse_lib
from fieldjax import field
from fieldjax import model
from fieldjax import perturbations


@pytest.mark.parametrize('vocab_size', [65, 8192, 32000])
@pytest.mark.parametrize('size', sorted(model.NOMINAL_PARAMS))
def test_param_counts_near_nominal(size, vocab_size):
  count = model.param_count(model.config_for_size(size, vocab_size))
  nominal = model.NOMINAL_PARAMS[size]
  assert abs(count - nominal) <= 0.1 * nominal, (size, vocab_size, count)


def test_param_count_counts_every_parameter():
  d, k, lattice, v = TINY.embed_dim, TINY.lags, TINY.lattice_dim, TINY.vocab_size
  assert model.param_count(TINY) == k * d * lattice + lattice + lattice * d + v


def test_unknown_size_raises():
  with pytest.raises(ValueError, match="'huge'"):
    model.config_for_size('huge', 65)


def test_config_for_size_overrides():
  cfg = model.config_for_size('tiny', 30, lattice_dim=16, dtype='bfloat16')
  assert (cfg.vocab_size, cfg.embed_dim, cfg.lattice_dim, cfg.dtype) == (30, 64, 16, 'bfloat16')


def test_model_config_json_round_trip():
  cfg = model.ModelConfig(
      vocab_size=300, embed_dim=16, lags=2, lattice_dim=64, embedding='log_phase',
      hebbian_rule='plain', dtype='bfloat16', decay=1e-3,
      field=field.FieldConfig(window=32, chunk=8, num_steps=3),
      perturbation=perturbations.PerturbationConfig(levy_scale=0.02, dt=0.25),
      collapse=collapse_lib.CollapseConfig(max_steps=7))
  obj = json.loads(json.dumps(cfg.to_json()))
  again = model.ModelConfig.from_json(obj)
  assert again == cfg and hash(again) == hash(cfg)
  assert model.ModelConfig.from_json(model.ModelConfig(vocab_size=5).to_json()) == \
      model.ModelConfig(vocab_size=5)


def test_model_config_validation():
  with pytest.raises(ValueError, match='vocab_size'):
    model.ModelConfig(vocab_size=1)
  with pytest.raises(ValueError, match="'float64'"):
    model.ModelConfig(vocab_size=11, dtype='float64')
  with pytest.raises(ValueError, match='lags'):
    model.ModelConfig(vocab_size=11, lags=0)


@pytest.mark.parametrize('dtype', sorted(model.DTYPES))
def test_log_probs_shape_normalised_finite(dtype):
  cfg = dataclasses.replace(TINY, dtype=dtype)
  params = trained_like_params(cfg)
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 11, (1, 12)), jnp.int32)
  lp = np.asarray(log_probs(params, tokens, cfg=cfg))
  assert lp.shape == (1, 12, 11) and lp.dtype == np.float32
  assert np.isfinite(lp).all()
  np.testing.assert_allclose(np.log(np.exp(lp.astype(np.float64)).sum(-1)), 0.0, atol=1e-5)
  assert lp.std(axis=(0, 1)).max() > 1e-3  # Depends on the context, not just the prior.


def test_token_masses():
  np.testing.assert_allclose(np.asarray(model.token_masses(jnp.full(17, 3.0))), 1.0,
                             rtol=1e-6)
  counts = jnp.asarray([1.0, 10.0, 100.0, 1000.0])
  masses = np.asarray(model.token_masses(counts))
  assert (np.diff(masses) < 0).all()  # Rarer tokens are heavier.
  # ln c - ln 1111 in float32: absolute error ~ulp(7) / ln 4 = 3.4e-7 (the 0.076 mass).
  np.testing.assert_allclose(masses, -np.log(counts / counts.sum()) / np.log(4), rtol=1e-5,
                             atol=1e-6)


def test_init_params_shapes_and_scales():
  a = model.init_params(TINY, jax.random.PRNGKey(0))
  assert {k: v.shape for k, v in a.items()} == {
      'lattice': (24, 32), 'lattice_bias': (32,), 'crystal': (32, 8), 'counts': (11,)}
  # K = 3 lag vectors of norm <= 1 in: entries ~ N(0, 1/K), unit-variance responses.
  assert np.asarray(a['lattice']).std() == pytest.approx(1 / np.sqrt(3), rel=0.15)
  assert np.abs(np.asarray(a['lattice_bias'])).max() <= 0.5
  assert not np.asarray(a['crystal']).any() and (np.asarray(a['counts']) == 1).all()
  other = model.init_params(TINY, jax.random.PRNGKey(1))  # The key draws the lattice.
  assert not np.allclose(np.asarray(a['lattice']), np.asarray(other['lattice']))
