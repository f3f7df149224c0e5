"""Tests of landauerjax.models: shapes, sequence vs step, the original cell's equation,
bfloat16 matmuls, dropout."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landauerjax import models

V, E, H, D, L = 11, 6, 8, 12, 2  # D: phasor width, unlike H so shapes tell them apart.
B, T = 2, 6
GOLDEN_ANGLE = 2.39996322972865332
# 'phasor_assoc' is phasor with scan='associative' (same parameters as 'phasor').
CASES = ('original', 'phasor', 'phasor_assoc', 'lstm', 'gru')


def _config(variant: str, **kwargs) -> models.ModelConfig:
  return models.ModelConfig(vocab_size=V, variant=variant, embed_dim=E, hidden_dim=H,
                            model_dim=D, num_layers=L, **kwargs)


def _random_params(config: models.ModelConfig, seed: int, scale: float = 0.4):
  """Random parameters of `config`'s shapes (from eval_shape: nothing compiles)."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(functools.partial(models.init_params, config),
                          jax.random.PRNGKey(0))
  return jax.tree_util.tree_map(
      lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)


@functools.partial(jax.jit, static_argnums=0)
def _all_outputs(model, params, tokens_BxT):
  """Everything the equivalence tests compare, in one compiled call per model."""
  run = lambda toks, carry: model.apply({'params': params}, toks, carry)
  zero = models.initial_state(model.config, tokens_BxT.shape[0])
  half = tokens_BxT.shape[1] // 2

  def step(carry, token_B):
    carry, logits, top = model.apply({'params': params}, carry, token_B,
                                     method=models.LandauerLM.step)
    return carry, (logits, top)
  step_carry, (step_logits, step_top) = jax.lax.scan(step, zero, tokens_BxT.T)
  first = run(tokens_BxT[:, :half], zero)
  return {'whole': run(tokens_BxT, zero),
          'steps': (jnp.swapaxes(step_logits, 0, 1), jnp.swapaxes(step_top, 0, 1),
                    step_carry),
          'first': first,
          'second': run(tokens_BxT[:, half:], first[2]),
          'cold_second': run(tokens_BxT[:, half:], zero)}


@pytest.fixture(scope='module')
def outputs():
  """case -> (model, `_all_outputs` on fixed random tokens), computed once per case."""
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, V, (B, 2 * T)), jnp.int32)
  cache = {}

  def get(case):
    if case not in cache:
      variant = 'phasor' if case == 'phasor_assoc' else case
      scan = 'associative' if case == 'phasor_assoc' else 'sequential'
      model = models.LandauerLM(_config(variant, scan=scan))
      params = _random_params(model.config, seed=models.VARIANTS.index(variant))
      cache[case] = (model, jax.device_get(_all_outputs(model, params, tokens)))
    return cache[case]
  return get


def _assert_trees_close(a, b, atol=1e-5):
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=1e-5)


def test_init_params_shapes():
  for variant in models.VARIANTS:
    params = jax.eval_shape(functools.partial(models.init_params, _config(variant)),
                            jax.random.PRNGKey(0))
    width = D if variant == 'phasor' else H
    assert params['embed']['embedding'].shape == (V, E if variant != 'phasor' else D)
    assert params['head']['kernel'].shape == (width, V)
    assert sorted(k for k in params if k.startswith('layer_')) == ['layer_0', 'layer_1']


@pytest.mark.parametrize('case', CASES)
def test_output_shapes(outputs, case):
  model, out = outputs(case)
  logits, top, carry = out['first']
  width = D if model.config.variant == 'phasor' else H
  assert logits.shape == (B, T, V)
  assert top.shape == (B, T, width)
  assert np.all(np.isfinite(logits))
  zero = models.initial_state(model.config, B)
  assert len(carry) == L
  assert (jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), carry)
          == jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), zero))


@pytest.mark.parametrize('case', CASES)
def test_sequence_equals_step_by_step(outputs, case):
  _, out = outputs(case)
  logits, top, carry = out['whole']
  step_logits, step_top, step_carry = out['steps']
  np.testing.assert_allclose(logits, step_logits, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(top, step_top, atol=1e-5, rtol=1e-5)
  _assert_trees_close(carry, step_carry)


@pytest.mark.parametrize('case', CASES)
def test_carry_continues_a_sequence(outputs, case):
  _, out = outputs(case)
  whole_logits, _, whole_carry = out['whole']
  first_logits, _, _ = out['first']
  second_logits, _, last_carry = out['second']
  np.testing.assert_allclose(np.concatenate([first_logits, second_logits], 1),
                             whole_logits, atol=1e-5, rtol=1e-5)
  _assert_trees_close(last_carry, whole_carry)
  # The carried state matters: a cold start on the second half differs.
  assert not np.allclose(out['cold_second'][0], second_logits, atol=1e-3)


def test_associative_scan_equals_sequential(outputs):
  _, seq = outputs('phasor')
  _, assoc = outputs('phasor_assoc')
  for got, want in zip(assoc['whole'], seq['whole']):
    _assert_trees_close(got, want)


def _numpy_seed_lm(params, tokens_BxT, num_layers, phase_scaling):
  """The seed LM from its equation, in float64 NumPy: logits [B, T, V].

  h_l <- tanh(W_l u + b_l + s_l * h_l * cos(phi_l * k + h_l)), phi_l = phi_0 / c**l;
  u is the embedding for l = 0 and h_{l-1} above; logits = W_o h_top + b_o.
  """
  p = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), params)
  batch, length = tokens_BxT.shape
  hidden = p['layer_0']['scale'].shape[0]
  k = np.arange(hidden)
  h = [np.zeros((batch, hidden)) for _ in range(num_layers)]
  logits = []
  for t in range(length):
    u = p['embed']['embedding'][tokens_BxT[:, t]]
    for l in range(num_layers):
      layer = p[f'layer_{l}']
      w, b, s = layer['input_proj']['kernel'], layer['input_proj']['bias'], layer['scale']
      phi = GOLDEN_ANGLE / phase_scaling**l
      h[l] = np.tanh(u @ w + b + s * h[l] * np.cos(phi * k + h[l]))
      u = h[l]
    logits.append(u @ p['head']['kernel'] + p['head']['bias'])
  return np.stack(logits, 1)


def test_seed_cell_matches_numpy_equation():
  num_layers, scaling = 3, 1.618
  config = models.ModelConfig(vocab_size=V, variant='original', embed_dim=E, hidden_dim=H,
                              num_layers=num_layers, phase_scaling=scaling)
  rng = np.random.default_rng(3)
  params = _random_params(config, seed=3, scale=0.6)
  for l in range(num_layers):  # Random scales of both signs, far from 1.
    params[f'layer_{l}']['scale'] = jnp.asarray(rng.uniform(-1.8, 1.8, H), jnp.float32)
  toks = rng.integers(0, V, (3, 10))
  model = models.LandauerLM(config)
  logits, _, _ = jax.jit(model.apply)({'params': params}, jnp.asarray(toks, jnp.int32),
                                      models.initial_state(config, 3))
  expected = _numpy_seed_lm(params, toks, num_layers, scaling)
  np.testing.assert_allclose(np.asarray(logits), expected, atol=1e-4, rtol=1e-4)


def test_unknown_variant_is_rejected():
  with pytest.raises(ValueError, match='foo'):
    models.ModelConfig(variant='foo')
  with pytest.raises(ValueError, match='parallel'):
    models.ModelConfig(variant='phasor', scan='parallel')


def test_matmul_dtype_is_validated():
  with pytest.raises(ValueError, match='matmul_dtype'):
    models.ModelConfig(matmul_dtype='float16')


def test_bfloat16_model_is_close_to_float32_with_the_same_parameters():
  for variant in ('original', 'phasor'):
    params = jax.jit(functools.partial(models.init_params, _config(variant)))(
        jax.random.PRNGKey(0))
    tokens = jnp.asarray(np.random.default_rng(1).integers(0, V, (B, T)), jnp.int32)
    out = {}
    for dtype in ('float32', 'bfloat16'):
      config = _config(variant, matmul_dtype=dtype)
      apply = jax.jit(models.LandauerLM(config).apply)  # One compile, not one per op.
      out[dtype] = apply({'params': params}, tokens, models.initial_state(config, B))[0]
    assert not np.array_equal(out['float32'], out['bfloat16'])  # bf16 is really used.
    np.testing.assert_allclose(out['bfloat16'], out['float32'], atol=0.05)


def test_phasor_dropout_only_in_training():
  cfg = models.ModelConfig(variant='phasor', vocab_size=11, model_dim=8, hidden_dim=8,
                           num_layers=1, dropout=0.5)
  model = models.LandauerLM(cfg)
  params = jax.jit(functools.partial(models.init_params, cfg))(jax.random.PRNGKey(0))
  tokens = jnp.asarray(np.random.default_rng(1).integers(0, 11, (2, 6)), jnp.int32)
  carry = models.initial_state(cfg, 2)
  apply = jax.jit(model.apply, static_argnames=('train',))  # One compile, not one per op.
  run = lambda **kw: apply({'params': params}, tokens, carry, **kw)[0]
  evaluation = run()
  np.testing.assert_allclose(run(), evaluation)
  dropped = run(train=True, rngs={'dropout': jax.random.PRNGKey(2)})
  again = run(train=True, rngs={'dropout': jax.random.PRNGKey(2)})
  np.testing.assert_allclose(dropped, again)
  assert np.abs(np.asarray(dropped) - np.asarray(evaluation)).max() > 1e-3
