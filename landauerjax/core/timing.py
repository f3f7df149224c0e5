"""Wall-clock timing of warm calls, and a description of the machine they ran on.

One timer for every benchmark of both models (`scripts/benchmark_landauer.py`,
`fieldjax.profiling`): `time_calls` runs each function in turn, round after
round, so functions timed together see the same machine load and their ratio
holds even on a busy machine. Each call's result passes through
`jax.block_until_ready`, so asynchronously dispatched work is inside the
timing. Model-free: imports only the standard library, NumPy and JAX.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np


def time_calls(fns: Sequence[Callable[[], Any]], repeats: int, *, warmup: int = 1
               ) -> list[dict[str, Any]]:
  """Seconds per call of each function, timed in alternation.

  Args:
    fns: F functions of no arguments (their results are waited for).
    repeats: R >= 1 timed rounds; in each, every function runs once, in order.
    warmup: untimed rounds first (compilation, first-call allocations).

  Returns:
    F dicts {'median_s', 'min_s', 'max_s', 'repeats_s' (the R seconds)}.
  """
  if repeats < 1:
    raise ValueError(f'repeats must be >= 1, got {repeats}.')
  for _ in range(warmup):
    for fn in fns:
      jax.block_until_ready(fn())
  seconds: list[list[float]] = [[] for _ in fns]
  for _ in range(repeats):
    for fn, out in zip(fns, seconds):
      t0 = time.perf_counter()
      jax.block_until_ready(fn())
      out.append(time.perf_counter() - t0)
  return [{'median_s': float(np.median(s)), 'min_s': min(s), 'max_s': max(s),
           'repeats_s': s} for s in seconds]


def _version(package: str) -> str | None:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def machine_info() -> dict[str, Any]:
  """CPU model, core counts, load average, library versions, JAX backend and the date."""
  cpu = platform.processor() or 'unknown'
  try:
    with open('/proc/cpuinfo') as f:
      cpu = next((line.split(':', 1)[1].strip() for line in f
                  if line.startswith('model name')), cpu)
  except OSError:
    pass
  return {'cpu': cpu, 'logical_cpus': os.cpu_count(),
          'cpus_available': len(os.sched_getaffinity(0)),
          'load_average_at_start': [round(x, 2) for x in os.getloadavg()],
          'python': platform.python_version(), 'jax': jax.__version__,
          'jax_backend': jax.default_backend(), 'flax': _version('flax'),
          'numpy': np.__version__,
          'date_utc': datetime.datetime.now(datetime.timezone.utc).strftime(
              '%Y-%m-%d %H:%M UTC')}
