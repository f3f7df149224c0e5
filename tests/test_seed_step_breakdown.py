"""scripts/seed_step_breakdown.py: its FLOP count, its ablations and a smoke run."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landauerjax import kernels
from landauerjax import models
from scripts import seed_step_breakdown as breakdown
from tests.conftest import REPO_ROOT


def test_dot_flops_counts_each_matmul_of_the_seed_step_by_hand():
  batch, seq, vocab, embed, hidden = 3, 5, 7, 4, 6
  config = models.ModelConfig(vocab_size=vocab, embed_dim=embed, hidden_dim=hidden,
                              num_layers=3)
  model = models.LandauerLM(config)
  params = models.init_params(config, jax.random.PRNGKey(0))
  tokens = jnp.zeros((batch, seq), jnp.int32)

  def loss(p):
    logits, _, _ = model.apply({'params': p}, tokens, models.initial_state(config, batch))
    return jnp.sum(logits)
  rows = batch * seq
  # Forward: layer 0 projects the [V, E] table; layers 1, 2 and the head
  # project every position. Backward: an input and a weight gradient each.
  macs = vocab * embed * hidden + rows * (2 * hidden * hidden + hidden * vocab)
  assert breakdown.dot_flops(jax.make_jaxpr(jax.grad(loss))(params)) == 2 * 3 * macs
  # Scan bodies count once per iteration.
  w = jnp.ones((4, 4))
  scanned = jax.make_jaxpr(lambda x: jax.lax.scan(lambda c, _: (c @ w, None), x, None,
                                                  length=9)[0])(jnp.ones((2, 4)))
  assert breakdown.dot_flops(scanned) == 9 * 2 * 2 * 4 * 4


def test_ablated_scans_drop_the_time_dependence_they_claim_to():
  h0 = jnp.zeros((2, 3))
  z = jax.random.normal(jax.random.PRNGKey(0), (5, 2, 3))
  terms = (jnp.full((3,), 1.5), jnp.cos(jnp.arange(3.0)), jnp.sin(jnp.arange(3.0)))

  def grad_of_last_state(scan):  # dL/dz for L = sum of the last state: [T, B, H].
    return np.asarray(jax.grad(lambda z: jnp.sum(scan(h0, z, *terms)[-1]))(z))
  real = grad_of_last_state(kernels.original_scan)
  assert np.abs(real[:-2]).max() > 1e-3  # The real gradient reaches every drive.
  # Truncated to one step back: only z_{T-1} and z_{T-2}, and those exactly.
  truncated = grad_of_last_state(breakdown.scan_without_backward_loop)
  np.testing.assert_array_equal(truncated[:-2], 0.0)
  np.testing.assert_allclose(truncated[-2:], real[-2:], rtol=1e-5, atol=1e-7)
  # Without recurrence, each state depends on its own drive only.
  free = grad_of_last_state(breakdown.scan_without_recurrence)
  np.testing.assert_array_equal(free[:-1], 0.0)
  assert np.abs(free[-1]).min() > 0


@pytest.mark.slow
def test_quick_run_writes_its_section_and_json(tmp_path):
  md, out = tmp_path / 'BENCH.md', tmp_path / 'breakdown.json'
  md.write_text('# Benchmarks\n\nProse kept as is.\n')
  result = subprocess.run(
      [sys.executable, '-m', 'scripts.seed_step_breakdown', '--quick',
       '--configs=landauer_original', '--torch=false', f'--output_md={md}',
       f'--output_json={out}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads(out.read_text())
  assert [(r['config'], r['ablation']) for r in results['steps']] == [
      ('landauer_original', a) for a in breakdown.ABLATIONS]
  assert all(r['median_ms'] > 0 and np.isfinite(r['last_loss']) for r in results['steps'])
  # Every ablation runs the same matmuls; the ablated scan reaches the compiled
  # step: 2 forward and 2 backward time loops, then 2 forward, then none.
  assert len({r['matmul_flops'] for r in results['steps']}) == 1
  assert [r['while_loops'] for r in results['steps']] == [4, 2, 0]
  assert results['matmul_floor']['landauer_original']['floor_ms'] > 0
  text = md.read_text()
  assert 'Prose kept as is.' in text and 'smoke run: not a benchmark' in text


@pytest.mark.slow
def test_unknown_configs_and_other_variants_are_refused(tmp_path):
  for configs, message in (('landauer_lstm', "landauer_lstm has variant 'lstm', not seed"),
                           ('no_such_config', 'no experiments/configs/no_such_config.py')):
    result = subprocess.run(
        [sys.executable, '-m', 'scripts.seed_step_breakdown', '--quick',
         f'--configs={configs}', '--torch=false', f'--output_md={tmp_path / "x.md"}'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / 'x.md').exists()
