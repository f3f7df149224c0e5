"""Tests of landauerjax.models: shapes, sequence vs step, the seed cell, its VJP."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landauerjax import kernels
from landauerjax import models
from landauerjax import recurrences

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


@pytest.mark.parametrize('steps', [1, 7])
def test_original_scan_vjp_matches_autodiff(steps):
  rng = np.random.default_rng(4)
  batch, hidden = 3, 5
  with jax.enable_x64(True):
    h0 = jnp.asarray(rng.uniform(-0.9, 0.9, (batch, hidden)))
    z = jnp.asarray(rng.standard_normal((steps, batch, hidden)))
    scale = jnp.asarray(rng.uniform(-1.5, 1.5, hidden))
    phase = jnp.asarray(1.3 * np.arange(hidden))
    weights = jnp.asarray(rng.standard_normal((steps, batch, hidden)))
    assert z.dtype == jnp.float64

    def ours(h0, z, scale):
      hs = kernels.original_scan(h0, z, scale, jnp.cos(phase), jnp.sin(phase))
      return jnp.sum(weights * hs)

    def reference(h0, z, scale):
      def body(h, z_t):
        h = jnp.tanh(z_t + scale * h * jnp.cos(phase + h))
        return h, h
      return jnp.sum(weights * jax.lax.scan(body, h0, z)[1])

    value, grads = jax.jit(jax.value_and_grad(ours, argnums=(0, 1, 2)))(h0, z, scale)
    ref_value, ref_grads = jax.jit(jax.value_and_grad(reference, argnums=(0, 1, 2)))(
        h0, z, scale)
    np.testing.assert_allclose(value, ref_value, rtol=1e-10)
    for name, g, ref_g in zip(('h0', 'z', 'scale'), grads, ref_grads):
      assert g.dtype == jnp.float64, name
      np.testing.assert_allclose(g, ref_g, rtol=1e-9, atol=1e-12, err_msg=name)


def test_original_scan_leaves_its_inputs_intact():
  # It writes states over z (and gradients over the incoming ones) inside XLA's
  # own buffers; the caller's arrays must not change.
  z = jax.random.normal(jax.random.PRNGKey(0), (6, 2, 4))
  g = jax.random.normal(jax.random.PRNGKey(1), (6, 2, 4))
  z_copy, g_copy = np.asarray(z).copy(), np.asarray(g).copy()
  terms = (jnp.ones(4), jnp.cos(jnp.arange(4.0)), jnp.sin(jnp.arange(4.0)))
  hs, vjp = jax.vjp(lambda z: kernels.original_scan(jnp.zeros((2, 4)), z, *terms), z)
  vjp(g)
  jax.jit(lambda z: kernels.original_scan(jnp.zeros((2, 4)), z, *terms))(z).block_until_ready()
  np.testing.assert_array_equal(z, z_copy)
  np.testing.assert_array_equal(g, g_copy)
  assert not np.allclose(hs, z_copy)


def test_unknown_variant_is_rejected():
  with pytest.raises(ValueError, match='foo'):
    models.ModelConfig(variant='foo')
  with pytest.raises(ValueError, match='parallel'):
    models.ModelConfig(variant='phasor', scan='parallel')


# bfloat16 sums the weight gradient over blocks of 256 rows: 37 rows are one
# block, 2 x 256 rows two. float32 contracts all rows in one dot.
@pytest.mark.parametrize('x_shape', [(1, 37, 24), (2, 256, 24)])
def test_matmul_vjp_matches_autodiff_of_a_plain_matmul(x_shape):
  kx, kw, kg = jax.random.split(jax.random.PRNGKey(3), 3)
  x = jax.random.normal(kx, x_shape)
  w = jax.random.normal(kw, (24, 10))
  g = jax.random.normal(kg, x.shape[:-1] + (10,))
  ours = jax.grad(lambda x, w: jnp.sum(kernels.matmul(x, w) * g), argnums=(0, 1))(x, w)
  plain = jax.grad(lambda x, w: jnp.sum((x @ w) * g), argnums=(0, 1))(x, w)
  np.testing.assert_allclose(kernels.matmul(x, w), x @ w, rtol=1e-5, atol=1e-5)
  for a, b in zip(ours, plain):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  # bfloat16 operands: the same values up to bfloat16 rounding (~3 significant digits).
  bf16 = jax.grad(lambda x, w: jnp.sum(kernels.matmul(x, w, 'bfloat16') * g),
                  argnums=(0, 1))(x, w)
  for a, b in zip(bf16, plain):
    assert a.dtype == jnp.float32
    np.testing.assert_allclose(a, b, rtol=0.05, atol=0.05 * float(jnp.abs(b).max()))


def test_matmul_dtype_is_validated_and_dense_rejects_other_contractions():
  with pytest.raises(ValueError, match='matmul_dtype'):
    models.ModelConfig(matmul_dtype='float16')
  dot_general = kernels.dot_general_for('float32')
  with pytest.raises(ValueError, match='x @ w only'):
    dot_general(jnp.ones((3, 4)), jnp.ones((3, 5)), (((0,), (0,)), ((), ())))


def test_bfloat16_model_is_close_to_float32_with_the_same_parameters():
  for variant in ('original', 'phasor'):
    params = models.init_params(_config(variant), jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(1), (B, T), 0, V)
    out = {}
    for dtype in ('float32', 'bfloat16'):
      config = _config(variant, matmul_dtype=dtype)
      out[dtype] = models.LandauerLM(config).apply(
          {'params': params}, tokens, models.initial_state(config, B))[0]
    assert not np.array_equal(out['float32'], out['bfloat16'])  # bf16 is really used.
    np.testing.assert_allclose(out['bfloat16'], out['float32'], atol=0.05)


def test_sin_cos_unit_accuracy():
  x = np.linspace(-1.0, 1.0, 4001)
  with jax.enable_x64(True):
    sin, cos = recurrences.sin_cos_unit(jnp.asarray(x))
    assert sin.dtype == jnp.float64
    np.testing.assert_allclose(sin, np.sin(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(cos, np.cos(x), rtol=0, atol=1e-12)
  sin32, cos32 = recurrences.sin_cos_unit(jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(sin32, np.sin(x), rtol=0, atol=1e-6)
  np.testing.assert_allclose(cos32, np.cos(x), rtol=0, atol=1e-6)


def test_phasor_dropout_only_in_training():
  cfg = models.ModelConfig(variant='phasor', vocab_size=11, model_dim=8, hidden_dim=8,
                           num_layers=1, dropout=0.5)
  model = models.LandauerLM(cfg)
  params = models.init_params(cfg, jax.random.PRNGKey(0))
  tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 6), 0, 11)
  carry = models.initial_state(cfg, 2)
  run = lambda **kw: model.apply({'params': params}, tokens, carry, **kw)[0]
  evaluation = run()
  np.testing.assert_allclose(run(), evaluation)
  dropped = run(train=True, rngs={'dropout': jax.random.PRNGKey(2)})
  again = run(train=True, rngs={'dropout': jax.random.PRNGKey(2)})
  np.testing.assert_allclose(dropped, again)
  assert np.abs(np.asarray(dropped) - np.asarray(evaluation)).max() > 1e-3
