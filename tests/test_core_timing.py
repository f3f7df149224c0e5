"""landauerjax.core.timing: interleaved warm timings and the machine description."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import pytest

from landauerjax.core import timing


def test_time_calls_interleaves_warms_up_and_summarises():
  calls: list[str] = []

  def make(name: str, seconds: float):
    def fn():
      calls.append(name)
      time.sleep(seconds)
    return fn

  fast, slow = timing.time_calls([make('a', 0.001), make('b', 0.02)], repeats=3, warmup=1)
  assert calls == ['a', 'b'] * 4  # One warm-up round, then three timed rounds in turn.
  for result, floor in ((fast, 0.001), (slow, 0.02)):
    assert len(result['repeats_s']) == 3
    assert floor <= result['min_s'] <= result['median_s'] <= result['max_s']
    assert result['median_s'] == sorted(result['repeats_s'])[1]
  assert slow['median_s'] > fast['median_s']


class _Pending:
  """A result whose work finishes only when waited for, like a dispatched jax.Array."""

  def block_until_ready(self) -> '_Pending':
    time.sleep(0.02)
    return self


def test_time_calls_waits_for_each_result():
  [result] = timing.time_calls([lambda: [_Pending()]], repeats=2, warmup=0)
  assert result['min_s'] >= 0.02
  x = jnp.ones((4, 4))
  [jitted] = timing.time_calls([jax.jit(lambda: x @ x)], repeats=1)
  assert jitted['median_s'] > 0


def test_time_calls_needs_a_repeat():
  with pytest.raises(ValueError, match='repeats'):
    timing.time_calls([lambda: None], repeats=0)


def test_machine_info_describes_this_process():
  info = timing.machine_info()
  assert info['jax'] == jax.__version__ and info['jax_backend'] == jax.default_backend()
  assert 1 <= info['cpus_available'] <= info['logical_cpus']
  assert len(info['load_average_at_start']) == 3 and info['date_utc'].endswith('UTC')
