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


def test_time_steps_carries_the_state_and_sizes_its_repeats():
  calls = []

  def step(state):
    calls.append(state)
    time.sleep(0.002)
    return state + 1
  timed = timing.time_steps(step, 0, repeats=2, repeat_s=0.01, max_steps=3)
  assert timed['steps_per_repeat'] == 3  # ~5 steps of 2 ms in 10 ms, capped at 3.
  assert calls == list(range(2 + 2 * 3)) and timed['state'] == 8  # Warm-ups, then 2 x 3.
  assert timed['ms_per_step_min'] <= timed['ms_per_step'] <= timed['ms_per_step_max']
  assert timed['ms_per_step'] >= 2 and timed['s_per_step'] == timed['ms_per_step'] / 1e3


def test_compile_timed_gives_xla_s_estimates_and_the_device_its_description():
  x = jnp.ones((8, 8))
  compiled, seconds, xla = timing.compile_timed(jax.jit(lambda a: a @ a), x)
  assert seconds > 0 and (compiled(x) == 8).all()
  assert xla['xla_flops'] == pytest.approx(2 * 8 ** 3, rel=0.5)  # The CPU has a count.
  assert xla['xla_memory_bytes'] >= 2 * 8 * 8 * 4  # Argument and result at least.
  assert timing.xla_cost(object()) == {'xla_flops': None, 'xla_memory_bytes': None}
  info = timing.device_info()
  assert info['backend'] == jax.default_backend() and info['versions']['jax'] == jax.__version__
