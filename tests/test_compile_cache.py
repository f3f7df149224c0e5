"""JAX's own flags on every command line, and the persistent compilation cache it uses.

The commands run with the cache on, in the user's directory: these tests point
XDG_CACHE_HOME (and JAX_COMPILATION_CACHE_DIR, which conftest sets to the test run's
own cache) at temporary directories, so nothing is written into the real ~/.cache.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys

import jax
import pytest

from landauerjax.core import compile_cache

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# common.run three times in one process: what jax.config holds when `main` starts.
_RUN = r'''
import json, sys
import jax
from absl import flags
from experiments import common

def main(argv):
  print('SEEN ' + json.dumps({
      'debug_nans': jax.config.jax_debug_nans,
      'cache_on': jax.config.jax_enable_compilation_cache,
      'cache_dir': jax.config.jax_compilation_cache_dir,
      'min_time': jax.config.jax_persistent_cache_min_compile_time_secs}))

for argv in json.loads(sys.argv[1]):
  sys.argv = ['prog'] + argv
  try:
    common.run(main)
  except SystemExit:
    pass
  flags.FLAGS.unparse_flags()
'''


def _env(tmp_path: pathlib.Path) -> dict[str, str]:
  """This environment with the per-user cache under tmp_path and no cache set by the user."""
  env = dict(os.environ, JAX_PLATFORMS='cpu', XDG_CACHE_HOME=str(tmp_path / 'xdg'))
  for name in ('JAX_COMPILATION_CACHE_DIR', 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS',
               'JAX_ENABLE_COMPILATION_CACHE'):  # The last: a suite run with the cache off.
    env.pop(name, None)
  return env


def test_jax_flags_reach_jax_config_and_the_cache_is_on_by_default(tmp_path):
  explicit = tmp_path / 'explicit'
  argvs = [[], ['--jax_debug_nans', f'--jax_compilation_cache_dir={explicit}',
                '--jax_persistent_cache_min_compile_time_secs=2'], ['--nocompilation_cache']]
  result = subprocess.run([sys.executable, '-c', _RUN, json.dumps(argvs)], cwd=REPO_ROOT,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120,
                          check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  default, explicit_run, off = [json.loads(l[len('SEEN '):])
                                for l in result.stdout.splitlines() if l.startswith('SEEN ')]
  assert default == {'debug_nans': False, 'cache_on': True,
                     'cache_dir': str(tmp_path / 'xdg' / 'landauer_field_jax' / 'jax_cache'),
                     'min_time': compile_cache.MIN_COMPILE_TIME_SECS}
  # The user's directory and threshold win over ours.
  assert explicit_run == {'debug_nans': True, 'cache_on': True, 'cache_dir': str(explicit),
                          'min_time': 2.0}
  assert not off['cache_on']


def test_default_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
  assert compile_cache.default_dir() == str(tmp_path / 'landauer_field_jax' / 'jax_cache')
  monkeypatch.delenv('XDG_CACHE_HOME')
  monkeypatch.setenv('HOME', str(tmp_path / 'home'))
  assert compile_cache.default_dir() == str(
      tmp_path / 'home' / '.cache' / 'landauer_field_jax' / 'jax_cache')


def test_an_unwritable_cache_dir_warns_once_and_turns_the_cache_off(tmp_path, caplog):
  a_file = tmp_path / 'a_file'
  a_file.write_text('not a directory')
  before = jax.config.jax_compilation_cache_dir
  try:
    with caplog.at_level(logging.WARNING):
      assert compile_cache.enable(str(a_file / 'cache')) == ''
    assert not jax.config.jax_enable_compilation_cache
  finally:
    jax.config.update('jax_enable_compilation_cache', True)
  assert jax.config.jax_compilation_cache_dir == before
  [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
  assert 'cannot be written' in record.getMessage()


def _eval(workdir: str, tmp_path: pathlib.Path, *extra: str) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, '-m', 'experiments.eval_landauer', f'--workdir={workdir}', *extra],
      cwd=REPO_ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)


def _entries(directory: pathlib.Path) -> list[str]:
  return sorted(n for n in os.listdir(directory) if n.endswith('-cache')
                ) if directory.is_dir() else []


@pytest.mark.slow
def test_eval_fills_the_cache_where_the_user_says_and_not_when_off(landauer_run, tmp_path):
  """Four evals of the tiny run at once: default directory, off, the user's, unwritable."""
  workdir = landauer_run[0]
  a_file = tmp_path / 'a_file'
  a_file.write_text('not a directory')
  runs = {
      'default': (tmp_path / 'default', []),
      'off': (tmp_path / 'off', ['--nocompilation_cache']),
      'explicit': (tmp_path / 'explicit', [f'--jax_compilation_cache_dir={tmp_path}/mine']),
      'unwritable': (tmp_path / 'unwritable', [f'--jax_compilation_cache_dir={a_file}/c']),
  }
  processes = {name: _eval(workdir, home, *extra) for name, (home, extra) in runs.items()}
  results = {name: (p.communicate(timeout=300), p.returncode) for name, p in processes.items()}
  for name, ((stdout, stderr), code) in results.items():
    assert code == 0, (name, stderr[-3000:])
    assert 'val_ce' in json.loads(stdout.strip().splitlines()[-1]), name

  def user_cache(name):
    return _entries(runs[name][0] / 'xdg' / 'landauer_field_jax' / 'jax_cache')
  assert user_cache('default')
  assert not user_cache('off')
  assert not user_cache('explicit') and _entries(tmp_path / 'mine')
  assert not user_cache('unwritable')
  warnings = [l for l in results['unwritable'][0][1].splitlines() if 'cannot be written' in l]
  assert len(warnings) == 1, results['unwritable'][0][1]
