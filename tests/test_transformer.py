"""The causal-transformer baseline: causality, sliding-window CE, training."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from landauerjax import input_pipeline
from landauerjax import transformer
from tests.conftest import REPO_ROOT

TINY = transformer.TransformerConfig(vocab_size=11, num_layers=2, num_heads=2,
                                     model_dim=16, block_size=12)
# Jitted: one compile per shape (eagerly, every primitive compiles on its own).
init_params = jax.jit(transformer.init_params, static_argnums=0)
apply = jax.jit(lambda model, variables, tokens: model.apply(variables, tokens),
                static_argnums=0)


@pytest.fixture(scope='module')
def tiny_params():
  return init_params(TINY, jax.random.PRNGKey(0))


def test_logits_shape_and_tied_head(tiny_params):
  tokens = jnp.zeros((3, 7), jnp.int32)
  logits = apply(transformer.Transformer(TINY), {'params': tiny_params}, tokens)
  assert logits.shape == (3, 7, 11)
  assert 'head' not in tiny_params  # The head reuses the token embedding.


def test_attention_is_causal(tiny_params):
  """Changing token j changes no logits before j, and does change those at j."""
  model = transformer.Transformer(TINY)
  tokens = np.random.default_rng(1).integers(0, 11, (2, 12)).astype(np.int32)
  changed = tokens.copy()
  changed[:, 6] = (tokens[:, 6] + 1) % 11
  a = apply(model, {'params': tiny_params}, tokens)
  b = apply(model, {'params': tiny_params}, changed)
  np.testing.assert_allclose(a[:, :6], b[:, :6], atol=1e-6)
  assert np.abs(np.asarray(a[:, 6:] - b[:, 6:])).max() > 1e-4


def test_sliding_window_ce_equals_direct_computation(tiny_params):
  """With stride = block the windows tile the split: compare with plain per-window CE."""
  model = transformer.Transformer(TINY)
  tokens = np.random.default_rng(2).integers(0, 11, 4 * 12 + 1).astype(np.int32)
  got = transformer.sliding_window_ce(tiny_params, model, tokens, stride=12, batch_windows=3)
  windows = np.stack([tokens[i:i + 13] for i in range(0, 48, 12)])
  logits = apply(model, {'params': tiny_params}, jnp.asarray(windows[:, :-1]))
  ce = jax.jit(optax.softmax_cross_entropy_with_integer_labels)(logits,
                                                                jnp.asarray(windows[:, 1:]))
  assert got['chars'] == 48
  np.testing.assert_allclose(got['ce'], float(jnp.mean(ce)), rtol=1e-5)
  # Overlapping windows score the same characters, with more context.
  overlapped = transformer.sliding_window_ce(tiny_params, model, tokens, stride=5)
  assert overlapped['chars'] == 48


def test_training_lowers_the_loss():
  text = 'abcabcabd' * 60
  vocab = input_pipeline.CharVocab.from_texts(text)
  tokens = jnp.asarray(vocab.encode(text))
  config = transformer.TransformerConfig(vocab_size=vocab.size, num_layers=1, num_heads=2,
                                         model_dim=16, block_size=8)
  model = transformer.Transformer(config)
  optimizer = optax.adam(3e-3)
  params = init_params(config, jax.random.PRNGKey(0))
  opt_state = optimizer.init(params)
  step = jax.jit(lambda p, o, s: transformer.train_step(
      p, o, s, tokens, model=model, optimizer=optimizer, seed=0, batch_size=16))
  losses = []
  for i in range(150):
    params, opt_state, loss = step(params, opt_state, jnp.asarray(i))
    losses.append(float(loss))
  assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


@pytest.mark.parametrize('kwargs,match', [
    (dict(model_dim=10, num_heads=4), 'divisible'),
    (dict(num_layers=0), 'num_layers'),
    (dict(dropout=1.0), 'dropout')])
def test_bad_config_is_rejected(kwargs, match):
  with pytest.raises(ValueError, match=match):
    transformer.TransformerConfig(**kwargs)


def test_bad_lengths_are_rejected(tiny_params):
  with pytest.raises(ValueError, match='block_size'):
    transformer.Transformer(TINY).apply({'params': tiny_params}, jnp.zeros((1, 13), jnp.int32))
  model = transformer.Transformer(TINY)
  with pytest.raises(ValueError, match='stride'):
    transformer.sliding_window_ce(tiny_params, model, np.arange(100) % 11, stride=13)
  with pytest.raises(ValueError, match='1 tokens'):
    transformer.sliding_window_ce(tiny_params, model, np.zeros(1, np.int32))


@pytest.mark.slow
def test_baseline_script_end_to_end(small_corpus_path, tmp_path):
  out = tmp_path / 'r.json'
  result = subprocess.run(
      [sys.executable, '-m', 'scripts.transformer_baseline', '--dataset=local_text',
       f'--local_path={small_corpus_path}', f'--data_dir={tmp_path / "tfds"}',
       '--presets=baby', '--seeds=0,1', '--num_steps=3', '--warmup_steps=1',
       f'--runs_dir={tmp_path / "runs"}', f'--results_md={tmp_path / "R.md"}',
       f'--output_json={out}'], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads(out.read_text())['summary']
  assert summary[0]['preset'] == 'baby' and summary[0]['seeds'] == 2
  assert np.isfinite(summary[0]['val_ce_mean'])
  assert 'transformer_baseline:start' in (tmp_path / 'R.md').read_text()
  partial = subprocess.run(
      [sys.executable, '-m', 'scripts.transformer_baseline', '--dataset=local_text',
       f'--local_path={small_corpus_path}', f'--data_dir={tmp_path / "tfds"}',
       '--presets=baby,matched', '--seeds=0,1,2', '--only_finished', '--num_steps=3',
       f'--runs_dir={tmp_path / "runs"}', '--results_md=', f'--output_json={out}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert partial.returncode == 0, partial.stderr[-3000:]
  assert [(r['preset'], r['seeds']) for r in json.loads(out.read_text())['summary']] == [
      ('baby', 2)]
  # Cached runs of another length are never summarized as these (nothing is overwritten).
  before = out.read_text()
  other_length = subprocess.run(
      [sys.executable, '-m', 'scripts.transformer_baseline', '--dataset=local_text',
       f'--local_path={small_corpus_path}', f'--data_dir={tmp_path / "tfds"}',
       '--presets=baby', '--seeds=0', '--only_finished', '--num_steps=5',
       f'--runs_dir={tmp_path / "runs"}', '--results_md=', f'--output_json={out}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert other_length.returncode != 0 and 'trained 3 steps' in other_length.stderr
  assert out.read_text() == before
  bad = subprocess.run([sys.executable, '-m', 'scripts.transformer_baseline',
                        '--presets=huge'], cwd=REPO_ROOT, capture_output=True, text=True,
                       timeout=120)
  assert bad.returncode != 0 and 'Unknown presets' in bad.stderr
