"""landauerjax.core.memory: the peak memory a measurement reports, and its table cell."""

from __future__ import annotations

import jax

from landauerjax.core import memory


def test_peaks_and_their_cell():
  rss = memory.peak_rss_mib()
  assert rss['ru_maxrss'] > 10 and (rss['vmhwm'] is None or rss['vmhwm'] > 10)  # MiB.
  peak = memory.peak_device_memory(123.0)
  if jax.default_backend() == 'cpu':  # No device statistics: XLA's estimate, marked so.
    assert peak == {'peak_memory_bytes': 123.0, 'memory_source': 'XLA estimate'}
  assert memory.gib_cell({'peak_memory_bytes': 2**30, 'memory_source': 'device peak'}) == (
      '1.00 (device peak)')
  assert memory.gib_cell({'peak_memory_bytes': None}) == '—'
