"""landauerjax.profiling: the train step's matmul FLOPs counted from the shapes, against
XLA's count."""

from __future__ import annotations

import importlib

import jax.numpy as jnp
import pytest

from landauerjax import config_schema
from landauerjax import models
from landauerjax import profiling
from landauerjax import train
from landauerjax.core import timing


@pytest.mark.parametrize('name', ['landauer_best', 'landauer_original'])
def test_landauer_train_flops_match_xla(name):
  """The matmuls are outside the time loop, so XLA counts them fully; the analytic count
  leaves out elementwise work (norms, activations, the optimiser): 0.85-1 of XLA's."""
  config = importlib.import_module(f'experiments.configs.{name}').get_config()
  config.model.model_dim = config.model.hidden_dim = 128
  config.train.batch_size, config.train.seq_len = 8, 32
  model_config = config_schema.model_config_from(config.model, 65)
  model = models.LandauerLM(model_config)
  optimizer = train.make_optimizer(config.train)
  state = train.init_train_state(model_config, optimizer, 0)
  compiled = train.make_train_step(config, model, optimizer).lower(
      state, jnp.zeros(1000, jnp.int32)).compile()
  ratio = profiling.train_flops(model_config, 8, 32) / timing.xla_cost(compiled)['xla_flops']
  assert 0.85 <= ratio <= 1.0
