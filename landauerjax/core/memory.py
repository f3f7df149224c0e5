"""Peak memory of a measurement: the device's own count, else XLA's estimate, and the
process's resident peak on the host.

Both are peaks of the whole process, so a benchmark that wants one figure per
measurement runs each in a fresh process (`landauerjax.core.fresh_process`).
Model-free: the standard library and JAX.
"""

from __future__ import annotations

import resource
from typing import Any

import jax


def peak_device_memory(xla_memory_bytes: float | None) -> dict[str, Any]:
  """{'peak_memory_bytes', 'memory_source'}: this process's peak device bytes
  (`memory_stats()['peak_bytes_in_use']`, 'device peak'), or, where the device
  reports none (the CPU), `xla_memory_bytes` ('XLA estimate', from
  `timing.compile_timed`)."""
  try:
    stats = jax.local_devices()[0].memory_stats() or {}
  except Exception:  # pylint: disable=broad-except  # Not every backend has stats.
    stats = {}
  if stats.get('peak_bytes_in_use') is not None:
    return {'peak_memory_bytes': float(stats['peak_bytes_in_use']),
            'memory_source': 'device peak'}
  return {'peak_memory_bytes': xla_memory_bytes, 'memory_source': 'XLA estimate'}


def peak_rss_mib() -> dict[str, float | None]:
  """Peak resident memory (MiB): 'vmhwm', VmHWM of /proc/self/status (reset by exec;
  None where there is no /proc), and 'ru_maxrss', getrusage's (carried across fork +
  exec: at least the parent's size at the fork)."""
  vmhwm = None
  try:
    with open('/proc/self/status') as f:
      vmhwm = next((int(line.split()[1]) / 1024.0 for line in f if line.startswith('VmHWM:')),
                   None)
  except OSError:
    pass
  return {'vmhwm': vmhwm, 'ru_maxrss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def gib_cell(row: dict[str, Any]) -> str:
  """A table cell of `peak_device_memory`'s keys in `row`: 'GiB (source)', or '—'."""
  if row.get('peak_memory_bytes') is None:
    return '—'
  return f"{row['peak_memory_bytes'] / 2**30:.2f} ({row['memory_source']})"
