"""Where arrays live: a device mesh, batches sharded over it, parameters replicated.

Both trainers run SPMD over a `Mesh` of all devices (jax.sharding, no pmap):

* axis `data`: the batch is split over it (`batch_sharding`); parameters and
  optimizer state are replicated (`replicated`), so XLA all-reduces the
  gradients (Landauer) and the Hebbian outer products (field LM) itself;
* axis `model` (size 1 unless asked for): the field LM shards its lattice and
  crystal along the lattice-site axis over it, for sizes one device does not hold.

On one device all of this is a no-op. Multi-host: `make_mesh` takes every
process's devices (`jax.devices()`), and `global_batch` builds a global array
from each process's own rows. Imports no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from landauerjax.core import errors

DATA = 'data'
MODEL = 'model'


def make_mesh(model_parallelism: int = 1, devices: Sequence[jax.Device] | None = None
              ) -> Mesh:
  """A (data, model) mesh over `devices` (default: all devices of all processes).

  Raises:
    ConfigError: `model_parallelism` does not divide the device count.
  """
  devices = list(jax.devices() if devices is None else devices)
  if model_parallelism < 1 or len(devices) % model_parallelism:
    raise errors.ConfigError(
        f'The model axis ({model_parallelism}) must divide the {len(devices)} devices; '
        f'choose one of {[k for k in range(1, len(devices) + 1) if len(devices) % k == 0]}.')
  grid = np.asarray(devices, dtype=object).reshape(len(devices) // model_parallelism,
                                                   model_parallelism)
  return Mesh(grid, (DATA, MODEL))


def describe(mesh: Mesh) -> str:
  """E.g. 'mesh: data=8 model=1 over 8 cpu devices (1 process)'."""
  devices = mesh.devices.reshape(-1)
  platform = devices[0].platform
  processes = len({d.process_index for d in devices})
  return (f'mesh: data={mesh.shape[DATA]} model={mesh.shape[MODEL]} over {devices.size} '
          f'{platform} device{"s" if devices.size > 1 else ""} ({processes} '
          f'process{"es" if processes > 1 else ""})')


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (parameters, optimizer state, scalars)."""
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over `data`, the rest whole on each device."""
  return NamedSharding(mesh, P(DATA))


def check_batch_size(batch_size: int, mesh: Mesh, name: str = 'config.train.batch_size'
                     ) -> None:
  """Raises ConfigError unless the data axis divides the batch evenly."""
  data = mesh.shape[DATA]
  if batch_size % data:
    lower = batch_size // data * data
    choices = ' or '.join(str(b) for b in (lower, lower + data) if b > 0)
    raise errors.ConfigError(
        f'{name} ({batch_size}) must be a multiple of the {data} devices of the data axis '
        f'(e.g. {choices}), so that each device gets as many rows.')


def constrain_batch(x: jax.Array, mesh: Mesh | None) -> jax.Array:
  """Inside jit: lays `x` out batch-sharded (a no-op without a mesh)."""
  if mesh is None:
    return x
  return jax.lax.with_sharding_constraint(x, batch_sharding(mesh))


def put_replicated(tree: Any, mesh: Mesh) -> Any:
  """A copy of `tree` replicated over the mesh (host or device arrays in)."""
  return jax.device_put(tree, replicated(mesh))


def global_batch(rows: np.ndarray, mesh: Mesh) -> jax.Array:
  """The global batch [B, ...] from this process's rows [B / processes, ...].

  With one process, `rows` is the whole batch; with several, each passes its
  own block of rows (e.g. from its own shard of a stream).
  """
  return jax.make_array_from_process_local_data(batch_sharding(mesh), np.asarray(rows))
