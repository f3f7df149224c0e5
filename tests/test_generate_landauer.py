"""experiments.generate_landauer.main in a process where JAX already runs (a notebook).

In a fresh process of its own: calling main() changes absl's global flag and
logging state, which the other tests of a worker must not inherit.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT

_SCRIPT = '''
import sys
import jax.numpy as jnp
jnp.ones(2).block_until_ready()  # XLA has read its flags: the threshold cannot apply.
from absl import flags
from experiments import generate_landauer
flags.FLAGS(['prog', '--workdir=' + sys.argv[1], '--prompt=the ', '--max_new_tokens=12'])
generate_landauer.main(['prog'])
'''


def test_main_samples_without_the_hoisted_loops_when_jax_already_runs(landauer_run):
  workdir, _ = landauer_run
  result = subprocess.run([sys.executable, '-c', _SCRIPT, workdir], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.startswith('the ') and len(result.stdout.rstrip('\n')) == 4 + 12
  assert 'sampling without the hoisted loops' in result.stderr
