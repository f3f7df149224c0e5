"""scripts/benchmark_device.py: its analytic FLOPs, its refusals, its files, its rows'
failures and time budget, its imports, and a --quick run end to end on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from conftest import REPO_ROOT
from entry_point_driver import assert_one_line_error
import entry_point_driver
from fieldjax import field
from fieldjax import model as field_model
from fieldjax import profiling
from fieldjax import recall
from fieldjax import sites
from scripts import benchmark_device

# Modules the GPU machine does not have; neither the script nor its rows may import them.
ABSENT_ON_GPU = ('tensorflow_datasets', 'grain', 'array_record', 'tensorboardX')


def _xla_flops(compiled) -> float:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost['flops'])


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
  from fieldjax import train  # pylint: disable=g-import-not-at-top
  cfg, batch, seq = FIELD_CASES[case]
  params = field_model.init_params(cfg, jax.random.PRNGKey(0))
  compiled = jax.jit(train.hebbian_step, static_argnames=('cfg',)).lower(
      params, jnp.zeros((batch, seq + 1), jnp.int32), jax.random.PRNGKey(1), jnp.int32(2),
      cfg=cfg).compile()
  flops = profiling.field_step_flops(cfg, batch, seq)
  assert flops['total'] == pytest.approx(_xla_flops(compiled), rel=0.12)
  assert flops['matmul'] == sum(v for k, v in flops.items() if k.startswith('matmul_'))


def test_field_step_flops_scale_with_the_field_steps():
  """What XLA cannot check (it counts the steps' loop body once): S steps cost S times."""
  cfg, batch, seq = FIELD_CASES['field']
  two = field_model.config_for_size('tiny', 8, embed_dim=32, lags=1, lattice_dim=16,
                                    field=field.FieldConfig(num_steps=2, chunk=256))
  one, twice = (profiling.field_step_flops(c, batch, seq)['matmul_field'] for c in (cfg, two))
  assert twice == 2 * one == 2 * 4 * batch * seq * seq * 32


@pytest.mark.parametrize('name', ['landauer_best', 'landauer_original'])
def test_landauer_train_flops_match_xla(name):
  """The matmuls are outside the time loop, so XLA counts them fully; the analytic count
  leaves out elementwise work (norms, activations, the optimiser): 0.85-1 of XLA's."""
  import importlib  # pylint: disable=g-import-not-at-top
  from landauerjax import models  # pylint: disable=g-import-not-at-top
  from landauerjax import train  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f'experiments.configs.{name}').get_config()
  config.model.model_dim = config.model.hidden_dim = 128
  config.train.batch_size, config.train.seq_len = 8, 32
  model_config = train.model_config_from(config, 65)
  model = models.LandauerLM(model_config)
  optimizer = train.make_optimizer(config.train)
  state = train.init_train_state(model_config, optimizer, 0)
  compiled = train.make_train_step(config, model, optimizer).lower(
      state, jnp.zeros(1000, jnp.int32)).compile()
  ratio = benchmark_device.landauer_train_flops(model_config, 8, 32) / _xla_flops(compiled)
  assert 0.85 <= ratio <= 1.0


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
  yield from entry_point_driver.driver(tmp_path_factory.mktemp('driver') / 'stderr.txt')


def test_refuses_a_cpu_and_an_unknown_row(drive, tmp_path):
  out = [f'--output_json={tmp_path}/b.json', f'--output_md={tmp_path}/b.md']
  no_gpu, unknown = drive('scripts.benchmark_device', [out, ['--quick', '--rows=matmul,nope']])
  assert_one_line_error(no_gpu, '--quick')
  assert 'GPU' in no_gpu['stderr']
  assert_one_line_error(unknown, "unknown ['nope']")
  assert not list(tmp_path.iterdir())


def _run(args, tmp_path, env=None, timeout=300):
  return subprocess.run(
      [sys.executable, '-m', 'scripts.benchmark_device', '--quick',
       f'--compilation_cache_dir={tmp_path}/cache', *args], cwd=REPO_ROOT,
      capture_output=True, text=True, timeout=timeout, check=False,
      env={**os.environ, **(env or {})})


def test_time_budget_skips_the_rest_and_writes_only_the_named_files(tmp_path):
  out = tmp_path / 'out'
  result = _run(['--rows=matmul,landauer_best', '--time_budget_s=0',
                 f'--output_json={out}/b.json', f'--output_md={out}/b.md'], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(p.name for p in out.iterdir()) == ['b.json', 'b.md']
  rows = json.loads((out / 'b.json').read_text())['rows']
  assert [(r['row'], r['status']) for r in rows] == [('matmul', 'skipped'),
                                                     ('landauer_best', 'skipped')]
  assert '`landauer_best`: skipped — --time_budget_s=0 spent' in (out / 'b.md').read_text()


def test_a_failing_row_is_recorded_and_the_run_goes_on(tmp_path):
  result = _run(['--rows=matmul,landauer_original', f'--output_json={tmp_path}/b.json'],
                tmp_path, env={benchmark_device.FAIL_ROWS_ENV: 'matmul'})
  assert result.returncode == 0, result.stderr[-3000:]
  matmul, landauer = json.loads((tmp_path / 'b.json').read_text())['rows']
  assert matmul['status'] == 'error' and 'failing on purpose' in matmul['error']
  assert 'Traceback' in matmul['traceback']
  assert landauer['status'] == 'ok' and landauer['sampling']['chars_per_s'] > 0
  assert landauer['fraction_of_bf16_matmul'] is None  # No matmul rate to compare with.
  assert 'matmul: error (RuntimeError' in result.stdout
  assert '| landauer_original |' in result.stdout


def _imported(modules: str) -> list[str]:
  code = (f'import json, sys; import {modules}; '
          f'print(json.dumps([m for m in {ABSENT_ON_GPU!r} if m in sys.modules]))')
  done = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=120, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_script_imports_no_input_pipeline():
  assert _imported('scripts.benchmark_device') == []


def test_the_rows_import_no_input_pipeline():
  """What the rows' child processes import (the GPU machine has none of ABSENT_ON_GPU)."""
  assert _imported('scripts.benchmark_device, fieldjax.train, landauerjax.train, '
                   'landauerjax.sampling, experiments.configs.field_best') == []


@pytest.mark.slow
def test_quick_run_measures_every_row_and_writes_nothing(tmp_path):
  before = sorted(p.name for p in (REPO_ROOT / 'docs').iterdir())
  result = _run([], tmp_path, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.startswith('benchmark_device on cpu')
  for row in benchmark_device.ROWS:
    assert f'{row}: ' in result.stdout
    if row != 'matmul':
      assert f'| {row} |' in result.stdout
  assert 'Rows without a result' not in result.stdout
  assert 'QUICK RUN' in result.stdout and 'projected wall time' in result.stdout
  assert sorted(p.name for p in (REPO_ROOT / 'docs').iterdir()) == before
  assert not (REPO_ROOT / 'docs' / 'benchmark_device.json').exists()
