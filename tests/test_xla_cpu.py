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


_PROBE = """
import sys
from landauerjax import xla_cpu
if sys.argv[1] == 'on':
  xla_cpu.set_small_loop_threshold()
print(xla_cpu.small_loops_hoisted())
"""


def _hoisted_in_a_fresh_process(setting: str) -> bool:
  env = dict(os.environ)
  env['XLA_FLAGS'] = ' '.join(f for f in env.get('XLA_FLAGS', '').split()
                              if KEY not in f)
  out = subprocess.run([sys.executable, '-c', _PROBE, setting],
                       env=env, capture_output=True, text=True, check=True)
  return out.stdout.split()[-1] == 'True'


def test_the_threshold_makes_xla_compile_a_scan_as_one_call():
  """With the setting the probe loop is one call, on every JAX we support. Without it
  XLA keeps its own default, which differs between versions (jax 0.10.2: iteration by
  iteration; jax 0.12.1: one call already), so nothing is asserted of it. Should a
  later XLA hoist it neither way, the commands warn once (next test) and this fails."""
  assert _hoisted_in_a_fresh_process('on')


def test_a_missing_hoist_is_one_warning_and_no_error(monkeypatch, caplog):
  monkeypatch.setattr(xla_cpu, 'small_loops_hoisted', lambda: False)
  assert xla_cpu.warn_unless_hoisted() is False
  warnings = [r for r in caplog.records if r.levelname == 'WARNING']
  assert len(warnings) == 1 and 'small loops' in warnings[0].getMessage()


def test_an_unknown_backend_state_sets_the_flag_with_a_warning(monkeypatch, caplog):
  monkeypatch.setattr(xla_cpu, 'backends_initialized', lambda: None)
  environ = {}
  assert KEY in xla_cpu.set_small_loop_threshold(1 << 20, environ)
  assert KEY in environ['XLA_FLAGS']
  assert any('XLA_FLAGS' in r.getMessage() for r in caplog.records
             if r.levelname == 'WARNING')
