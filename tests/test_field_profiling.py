"""fieldjax.profiling: the Hebbian step's FLOPs counted from the shapes, against XLA's count.

(The step's timings run in tests/test_field_command.py's `profile` and in the device
benchmark, tests/test_benchmark_device.py.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from fieldjax import field
from fieldjax import model as field_model
from fieldjax import profiling
from fieldjax import recall
from fieldjax import sites
from landauerjax.core import timing


# Each config makes one group of terms dominate. One field step (num_steps=1) and one chunk
# (chunk >= T): XLA's cost analysis counts a loop's body once. It also counts all four
# branches of the perturbations' lax.switch (Levy noise on every coordinate, Beta
# samplers), of which the step runs one, and the analytic count leaves out: that is
# 5-8% of XLA's count where the field dominates, hence 12%.
_F1 = field.FieldConfig(num_steps=1, chunk=256)
FIELD_CASES = {
    'lattice': (field_model.config_for_size('tiny', 256, embed_dim=32, lattice_dim=1024,
                                            field=_F1), 4, 64),
    'field': (field_model.config_for_size('tiny', 8, embed_dim=32, lags=1, lattice_dim=16,
                                          field=_F1), 2, 256),
    'vocab_sites_recall': (field_model.config_for_size(
        'tiny', 1024, embed_dim=16, lags=1, lattice_dim=64, field=_F1,
        sites=sites.SitesConfig(table_bits=10),
        recall=recall.RecallConfig(softening=0.05, dt=3e-4)), 2, 64),
}


@pytest.mark.parametrize('case', sorted(FIELD_CASES))
def test_field_step_flops_match_xla(case):
  from fieldjax import hebbian  # pylint: disable=g-import-not-at-top
  cfg, batch, seq = FIELD_CASES[case]
  params = field_model.init_params(cfg, jax.random.PRNGKey(0))
  compiled = jax.jit(hebbian.hebbian_step, static_argnames=('cfg',)).lower(
      params, jnp.zeros((batch, seq + 1), jnp.int32), jax.random.PRNGKey(1), jnp.int32(2),
      cfg=cfg).compile()
  flops = profiling.field_step_flops(cfg, batch, seq)
  assert flops['total'] == pytest.approx(timing.xla_cost(compiled)['xla_flops'], rel=0.12)
  assert flops['matmul'] == sum(v for k, v in flops.items() if k.startswith('matmul_'))


def test_field_step_flops_scale_with_the_field_steps():
  """What XLA cannot check (it counts the steps' loop body once): S steps cost S times."""
  cfg, batch, seq = FIELD_CASES['field']
  two = field_model.config_for_size('tiny', 8, embed_dim=32, lags=1, lattice_dim=16,
                                    field=field.FieldConfig(num_steps=2, chunk=256))
  one, twice = (profiling.field_step_flops(c, batch, seq)['matmul_field'] for c in (cfg, two))
  assert twice == 2 * one == 2 * 4 * batch * seq * seq * 32
