"""The shared core imports no model: the field LM runs without the Landauer cells."""

import os
import pathlib
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

_CHECK = '''
import sys
import fieldjax.train, fieldjax.generation, fieldjax.checkpoints
import landauerjax.core.checkpoints, landauerjax.core.guards, landauerjax.core.metrics
import landauerjax.core.workdir
loaded = sorted(m for m in sys.modules if m in (
    'landauerjax.models', 'landauerjax.train', 'landauerjax.sampling', 'tensorflow', 'torch'))
print(loaded)
'''


def test_importing_the_field_lm_loads_no_landauer_model_and_no_tensorflow():
  result = subprocess.run([sys.executable, '-c', _CHECK], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=False,
                          env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip().splitlines()[-1] == '[]'
