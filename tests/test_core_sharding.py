"""landauerjax.core.sharding: the mesh, and both trainers data-parallel over fake devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO_ROOT
from landauerjax.core import errors
from landauerjax.core import sharding


def test_mesh_axes_and_description():
  mesh = sharding.make_mesh()
  assert mesh.axis_names == ('data', 'model')
  assert mesh.shape['data'] == jax.device_count() and mesh.shape['model'] == 1
  assert sharding.describe(mesh).startswith(f'mesh: data={jax.device_count()} model=1 over ')


def test_mistakes_are_config_errors_naming_the_fix():
  mesh = sharding.make_mesh(devices=[jax.devices()[0]] * 1)
  sharding.check_batch_size(3, mesh)  # One device divides anything.
  with pytest.raises(errors.ConfigError, match=r'model axis \(3\) must divide the 1 devices'):
    sharding.make_mesh(3)
  mesh8 = jax.sharding.Mesh(np.asarray([jax.devices()[0]] * 8, dtype=object).reshape(8, 1),
                            ('data', 'model'))  # Only its shape matters here.
  with pytest.raises(errors.ConfigError, match=r'batch_size \(12\) must be a multiple of the '
                     r'8 devices .*e\.g\. 8 or 16'):
    sharding.check_batch_size(12, mesh8)


def test_batch_constraint_and_global_batch_keep_values():
  mesh = sharding.make_mesh()
  rows = np.arange(12, dtype=np.int32).reshape(4, 3)
  batch = sharding.global_batch(rows, mesh)  # One process: its rows are the batch.
  np.testing.assert_array_equal(np.asarray(batch), rows)
  constrained = jax.jit(lambda x: sharding.constrain_batch(x * 2, mesh))(jnp.asarray(rows))
  np.testing.assert_array_equal(np.asarray(constrained), rows * 2)
  assert sharding.constrain_batch(batch, None) is batch


@pytest.mark.slow
def test_eight_fake_devices_train_like_one_and_checkpoints_move_between_meshes(tmp_path):
  """tests/multidevice_checks.py in a process with 8 fake CPU devices: both models on
  meshes of 1, 2 and 8 devices (the field LM also data=4 x model=2), and checkpoints
  saved on 8 devices resumed on 1, saved on 1 resumed on 2 then on 8.

  Tolerance: the runs differ only in the order of float32 reductions (the batch's
  mean CE and the gradient / Hebbian sums are split over devices, then
  all-reduced), which moves a loss by a few float32 ulps per step (4e-7 relative,
  ~3 ulps, measured over 4 steps); rtol 2e-5 allows 50x that, while a wrong
  batch split or a lost all-reduce changes the losses by > 1e-3 (the steps' own
  changes, asserted below).
  """
  env = dict(os.environ, XLA_FLAGS=os.environ.get('XLA_FLAGS', '')
             + ' --xla_force_host_platform_device_count=8', JAX_PLATFORMS='cpu')
  result = subprocess.run(
      [sys.executable, str(REPO_ROOT / 'tests' / 'multidevice_checks.py'), str(tmp_path)],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=500, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads(result.stdout.strip().splitlines()[-1])
  # The 8-device steps really split the batch: XLA all-reduces their sums.
  assert results.pop('all_reduce') == {'landauer': True, 'field': True}
  assert set(results) == {'landauer', 'field'}
  for model, runs in results.items():
    one = np.asarray(runs['1'])
    assert len(one) == 4 and np.min(np.abs(np.diff(one))) > 1e-3, (model, one)
    for name, losses in runs.items():
      np.testing.assert_allclose(losses, one, rtol=2e-5, err_msg=f'{model} {name}')
  assert {'2', '8', '8to1', '1to2to8'} <= set(results['landauer'])
  assert '4x2' in results['field']
