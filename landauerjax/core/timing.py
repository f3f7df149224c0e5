"""Wall-clock timing of warm calls and compilations, and the machine they ran on.

One timer for every benchmark of both models (`scripts/benchmark_*.py`,
`fieldjax.profiling`, `landauerjax.profiling`): `time_calls` runs each function
in turn, round after round, so functions timed together see the same machine
load and their ratio holds even on a busy machine. Each call's result passes
through `jax.block_until_ready`, so asynchronously dispatched work is inside the
timing. `time_steps` times a step function that carries its state, `compile_timed`
a compilation (with XLA's own FLOP and memory estimates), `matmul_flops_per_sec`
the device's dense matmul rate, the reference of achieved rates. `machine_info`
and `device_info` describe the host and the accelerator. Model-free: imports only
the standard library, NumPy and JAX.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
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


def time_steps(step: Callable[[Any], Any], state: Any, repeats: int, repeat_s: float, *,
               max_steps: int = 200) -> dict[str, Any]:
  """Warm seconds per step of `state = step(state)`: two warm-up steps, then
  `repeats` repeats of k steps each (k from the second warm-up: ~repeat_s per
  repeat, 1 to `max_steps`). Returns {'s_per_step', 'ms_per_step' (medians),
  'ms_per_step_min', 'ms_per_step_max', 'steps_per_repeat', 'repeats', 'timing'
  (`time_calls`' dict), 'state' (the last state)}."""
  for _ in range(2):
    t0 = time.perf_counter()
    state = jax.block_until_ready(step(state))
    warm_s = time.perf_counter() - t0
  steps = max(1, min(max_steps, round(repeat_s / max(warm_s, 1e-6))))
  box = [state]

  def run() -> Any:
    for _ in range(steps):
      box[0] = step(box[0])
    return box[0]
  [stats] = time_calls([run], repeats, warmup=0)
  s = stats['median_s'] / steps
  return {'s_per_step': s, 'ms_per_step': 1e3 * s, 'steps_per_repeat': steps,
          'repeats': repeats, 'ms_per_step_min': 1e3 * stats['min_s'] / steps,
          'ms_per_step_max': 1e3 * stats['max_s'] / steps, 'timing': stats,
          'state': box[0]}


def xla_cost(compiled: Any) -> dict[str, float | None]:
  """XLA's estimates for a compiled function: {'xla_flops' (its cost analysis, which
  counts a loop's body once), 'xla_memory_bytes' (arguments + outputs + temporaries
  - aliased)}, each None where the backend has none."""
  out: dict[str, float | None] = {'xla_flops': None, 'xla_memory_bytes': None}
  try:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
      cost = cost[0] if cost else None
    if cost and cost.get('flops') is not None:
      out['xla_flops'] = float(cost['flops'])
  except Exception:  # pylint: disable=broad-except  # Not every backend has one.
    pass
  try:
    m = compiled.memory_analysis()
    if m is not None:
      out['xla_memory_bytes'] = float(m.argument_size_in_bytes + m.output_size_in_bytes
                                      + m.temp_size_in_bytes - m.alias_size_in_bytes)
  except Exception:  # pylint: disable=broad-except
    pass
  return out


def compile_timed(jitted: Any, *args: Any, **kwargs: Any
                  ) -> tuple[Any, float, dict[str, float | None]]:
  """(the compiled `jitted` for these arguments, compile seconds, `xla_cost`)."""
  t0 = time.perf_counter()
  compiled = jitted.lower(*args, **kwargs).compile()
  seconds = time.perf_counter() - t0
  return compiled, seconds, xla_cost(compiled)


def matmul_call(size: int, dtype: str) -> tuple[Callable[[], Any], float]:
  """A jitted [n, n] @ [n, n] call of no arguments (random operands), and its FLOPs."""
  kx, ky = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, (size, size), jnp.dtype(dtype))
  y = jax.random.normal(ky, (size, size), jnp.dtype(dtype))
  matmul = jax.jit(jnp.matmul)
  return (lambda: matmul(x, y)), 2.0 * size ** 3


def matmul_flops_per_sec(size: int = 2048, dtype: str = 'float32', repeats: int = 5, *,
                         warmup: int = 1) -> float:
  """This device's measured dense matmul rate, FLOP/s ([n, n] @ [n, n], median)."""
  fn, flops = matmul_call(size, dtype)
  return flops / time_calls([fn], repeats, warmup=warmup)[0]['median_s']


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


# The packages whose versions `device_info` records.
PACKAGES = ('jax', 'jaxlib', 'jax-cuda13-plugin', 'jax-cuda13-pjrt', 'jax-cuda12-plugin',
            'jax-cuda12-pjrt', 'flax', 'optax', 'numpy', 'ml-collections')


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
  """{package: its installed version, or None}."""
  return {name: _version(name) for name in names}


def nvidia_smi() -> dict[str, Any]:
  """GPU name, driver, memory and CUDA version from nvidia-smi; {} without it."""
  info: dict[str, Any] = {}
  try:
    query = subprocess.run(
        ['nvidia-smi', '--query-gpu=name,driver_version,memory.total',
         '--format=csv,noheader'], capture_output=True, text=True, timeout=20, check=False)
    if query.returncode == 0 and query.stdout.strip():
      name, driver, memory = [s.strip() for s in
                              query.stdout.strip().splitlines()[0].split(',')][:3]
      info.update(gpu=name, driver_version=driver, memory_total=memory)
    plain = subprocess.run(['nvidia-smi'], capture_output=True, text=True, timeout=20,
                           check=False)
    cuda = re.search(r'CUDA Version:\s*([\d.]+)', plain.stdout)
    if cuda:
      info['cuda_version'] = cuda.group(1)
  except (OSError, subprocess.SubprocessError, ValueError) as e:
    info['nvidia_smi_error'] = f'{type(e).__name__}: {e}'
  return info


def _platform_version(device: Any) -> str | None:
  try:
    return str(device.client.platform_version)
  except Exception:  # pylint: disable=broad-except  # Not every jax has it.
    return None


def device_info() -> dict[str, Any]:
  """Backend, device kind, package versions, nvidia-smi, host; initialises the backend."""
  device = jax.devices()[0]
  return {'backend': jax.default_backend(), 'device_kind': device.device_kind,
          'device': str(device), 'device_count': jax.device_count(),
          'platform_version': _platform_version(device),
          'versions': package_versions(), 'nvidia_smi': nvidia_smi(),
          'python': platform.python_version(), 'host_cpus': os.cpu_count(),
          'date_utc': datetime.datetime.now(datetime.timezone.utc).strftime(
              '%Y-%m-%d %H:%M UTC')}
