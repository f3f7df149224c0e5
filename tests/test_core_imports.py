"""The shared core imports no model, and the field LM imports nothing of the Landauer LM
but the core (nor TensorFlow, nor torch)."""

import os
import pathlib
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

_CHECK = '''
import importlib, pkgutil, sys
import landauerjax.core
core = sorted(m.name for m in pkgutil.iter_modules(landauerjax.core.__path__,
                                                   'landauerjax.core.'))
for name in core:
  importlib.import_module(name)
print('core', len(core), sorted(m for m in sys.modules if m.startswith('landauerjax.')
                                and not m.startswith('landauerjax.core')))
import fieldjax
for m in pkgutil.iter_modules(fieldjax.__path__, 'fieldjax.'):
  importlib.import_module(m.name)
print('field', sorted(m for m in sys.modules if m.startswith('landauerjax.')
                      and not m.startswith('landauerjax.core')
                      or m.split('.')[0] in ('tensorflow', 'torch')))
'''


def test_the_core_imports_no_model_and_the_field_lm_no_landauer_module():
  result = subprocess.run([sys.executable, '-c', _CHECK], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=False,
                          env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 0, result.stderr[-2000:]
  core_line, field_line = result.stdout.strip().splitlines()[-2:]
  count = int(core_line.split()[1])
  assert count >= 10  # checkpoints, distributed, errors, guards, loop, metrics, sharding, ...
  assert core_line.endswith(' []'), core_line
  assert field_line == 'field []', field_line
