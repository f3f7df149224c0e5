"""Many processes (hosts) as one run, on JAX's own runtime (jax.distributed).

Every process runs the same program on its own devices; `jax.devices()` then
lists all processes' devices, and `core.sharding.make_mesh` spans them. The
run's files are written by process 0 alone (metrics, TensorBoard, config and
run records, checkpoint manifests, pruning; orbax writes the arrays of every
process itself), and `barrier` makes the others wait where they must.

One process (the default) needs none of this: every function here is then a
no-op or trivially true. Imports no model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from absl import logging
import jax

from landauerjax.core import errors

T = TypeVar('T')
# Seconds a process waits for the others at start-up.
TIMEOUT_S = 300
_initialized = False


def initialize(coordinator_address: str = '', num_processes: int | None = None,
               process_id: int | None = None, *, auto: bool = False) -> None:
  """`jax.distributed.initialize` with the given arguments, or as the cluster says.

  Args:
    coordinator_address: 'host:port' of process 0 ('' with `auto`: JAX detects
      SLURM, Open MPI or a TPU pod itself; '' without: one process, nothing to do).
    num_processes, process_id: this run's process count and this process's index.
    auto: initialize from the cluster environment.

  On the CPU backend the processes' collectives go over gloo. Call before any
  other JAX computation.
  """
  if not coordinator_address and not auto:
    return
  if coordinator_address and (num_processes is None or process_id is None):
    raise errors.ConfigError('--coordinator_address needs --num_processes and --process_id '
                             '(e.g. --num_processes=2 --process_id=0 on the first host).')
  if num_processes is not None and process_id is not None and not (
      0 <= process_id < num_processes):
    raise errors.ConfigError(f'--process_id must be in [0, {num_processes}), '
                             f'got {process_id}.')
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  kwargs: dict[str, Any] = {'initialization_timeout': TIMEOUT_S}
  if coordinator_address:
    kwargs.update(coordinator_address=coordinator_address, num_processes=num_processes,
                  process_id=process_id)
  jax.distributed.initialize(**kwargs)
  global _initialized
  _initialized = True
  logging.info('Process %d of %d; %d devices in all, %d here.', jax.process_index(),
               jax.process_count(), jax.device_count(), jax.local_device_count())


def initialized() -> bool:
  """Whether `initialize` started a multi-process run in this process."""
  return _initialized


def is_primary() -> bool:
  """Whether this process writes the run's files (process 0)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier `name` (one process: returns)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def allgather_json(obj: Any) -> list[Any]:
  """[every process's `obj`] in process order, on every process (JSON-able objects).

  E.g. each process's input-pipeline position, saved together by process 0.
  """
  if jax.process_count() == 1:
    return [obj]
  import json  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  data = np.frombuffer(json.dumps(obj).encode(), np.uint8)
  lengths = multihost_utils.process_allgather(np.asarray([data.size], np.int32))
  padded = np.zeros(int(np.max(lengths)), np.uint8)
  padded[:data.size] = data
  gathered = np.asarray(multihost_utils.process_allgather(padded)).reshape(len(lengths), -1)
  return [json.loads(bytes(row[:int(n)]).decode()) for row, n in
          zip(gathered, np.asarray(lengths).reshape(-1))]


def primary_first(fn: Callable[[], T], name: str) -> T:
  """`fn()` on process 0, then on the others (e.g. preparing a dataset or a tokenizer
  cache that they then read, instead of all writing it at once)."""
  if jax.process_count() == 1:
    return fn()
  result = fn() if is_primary() else None
  barrier(f'{name}:primary_done')
  return result if is_primary() else fn()
