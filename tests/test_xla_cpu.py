"""landauerjax.xla_cpu: the small-loop threshold in XLA_FLAGS, and its effect."""

from __future__ import annotations

import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from landauerjax import xla_cpu

KEY = xla_cpu.SMALL_LOOP_KEY


def test_adds_the_option_to_empty_or_unrelated_flags():
  assert (xla_cpu.with_small_loop_threshold('', 100)
          == f'--xla_backend_extra_options={KEY}=100')
  assert (xla_cpu.with_small_loop_threshold('--xla_cpu_enable_fast_math=false', 7)
          == f'--xla_cpu_enable_fast_math=false --xla_backend_extra_options={KEY}=7')


def test_joins_existing_extra_options_and_keeps_a_users_threshold():
  flags = '--a=1 --xla_backend_extra_options=foo=2,bar --b=3'
  assert (xla_cpu.with_small_loop_threshold(flags, 5)
          == f'--a=1 --xla_backend_extra_options=foo=2,bar,{KEY}=5 --b=3')
  users = f'--xla_backend_extra_options={KEY}=0'
  assert xla_cpu.with_small_loop_threshold(users, 5) == users


def test_bad_threshold_and_late_call_are_errors_that_change_nothing():
  with pytest.raises(ValueError, match='max_bytes'):
    xla_cpu.with_small_loop_threshold('', -1)
  jnp.ones(2).block_until_ready()  # The backend now exists in this process.
  environ = {'XLA_FLAGS': '--x=1'}
  with pytest.raises(RuntimeError, match='before the first JAX computation'):
    xla_cpu.set_small_loop_threshold(1 << 20, environ)
  assert environ == {'XLA_FLAGS': '--x=1'}
  assert xla_cpu.set_small_loop_threshold(0, environ) == '--x=1'


_COUNT_HOISTED_LOOPS = """
import sys
from landauerjax import xla_cpu
if sys.argv[1] == 'on':
  xla_cpu.set_small_loop_threshold()
import jax, jax.numpy as jnp
step = lambda h, z: (jnp.tanh(z + h * jnp.cos(h)), h)
scan = jax.jit(lambda h, z: jax.lax.scan(step, h, z)[1])
text = scan.lower(jnp.ones((32, 256)), jnp.ones((64, 32, 256))).compile().as_text()
print(text.count('xla_cpu_small_call'))
"""


@pytest.mark.parametrize('setting,hoisted', [('off', 0), ('on', 1)])
def test_the_threshold_makes_xla_compile_a_scan_as_one_call(setting, hoisted):
  env = dict(os.environ)
  env['XLA_FLAGS'] = ' '.join(f for f in env.get('XLA_FLAGS', '').split()
                              if KEY not in f)
  out = subprocess.run([sys.executable, '-c', _COUNT_HOISTED_LOOPS, setting],
                       env=env, capture_output=True, text=True, check=True)
  assert int(out.stdout.split()[-1]) == hoisted
