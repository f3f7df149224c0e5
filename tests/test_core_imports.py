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


_HEAVY = ('tensorflow_datasets', 'grain', 'array_record', 'tensorboardX', 'safetensors')
_IMPORT_COMMANDS = '''
import importlib, sys
for name in sys.argv[1:]:
  importlib.import_module(name)
print(sorted(m for m in sys.modules if m.split('.')[0] in %r))
''' % (_HEAVY,)


def test_the_commands_import_tfds_grain_and_tensorboardx_only_when_they_read_or_log():
  """The GPU image has none of them: what reads no corpus and writes no TensorBoard
  (a benchmark on random tokens, a checkpoint's eval on a given array) must import fine
  without them. TFDS is imported by text_sources when a corpus is read, grain by
  streams when a corpus is streamed, tensorboardX by the metrics writer, safetensors by
  an export (core.exports) when it writes or reads one."""
  libraries = ['landauerjax.train', 'fieldjax.train', 'fieldjax.profiling',
               'experiments.common', 'landauerjax.core.text_sources',
               'landauerjax.core.streams', 'landauerjax.core.exports',
               'landauerjax.checkpoints', 'fieldjax.checkpoints']
  # Each entry point defines its own absl flags: one process each.
  for modules in (libraries, ['experiments.train_landauer'], ['experiments.field']):
    result = subprocess.run([sys.executable, '-c', _IMPORT_COMMANDS, *modules], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120, check=False,
                            env=dict(os.environ, JAX_PLATFORMS='cpu'))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == '[]', modules


def test_reading_a_corpus_still_registers_the_tfds_builders(small_corpus_path, tmp_path):
  from landauerjax.core import text_sources  # pylint: disable=g-import-not-at-top
  splits = text_sources.load_text_splits('local_text', local_path=small_corpus_path,
                                         data_dir=str(tmp_path))
  assert set(splits) == {'train', 'validation'} and all(splits.values())
  assert 'tensorflow_datasets' in sys.modules
