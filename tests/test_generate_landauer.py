"""experiments.generate_landauer.main in a process where JAX already runs (a notebook, here)."""

from __future__ import annotations

import jax.numpy as jnp
from absl import flags
from absl.testing import flagsaver

from experiments import generate_landauer


def test_main_samples_without_the_hoisted_loops_when_jax_already_runs(landauer_run, capsys,
                                                                      caplog):
  jnp.ones(2).block_until_ready()  # XLA has read its flags: the threshold cannot apply.
  workdir, _ = landauer_run
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()
  with flagsaver.flagsaver(workdir=workdir, prompt='the ', max_new_tokens=12, seed=0):
    generate_landauer.main(['generate_landauer'])
  out = capsys.readouterr().out
  assert out.startswith('the ') and len(out.rstrip('\n')) == 4 + 12
  assert 'sampling without the hoisted loops' in caplog.text
