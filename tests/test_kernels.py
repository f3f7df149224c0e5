"""Tests of landauerjax.kernels: the original cell's scan and its VJP, the matmul and its VJP."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landauerjax import losses
from landauerjax import kernels
from landauerjax import models


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


# bfloat16 sums the weight gradient over blocks of 256 rows: 37 rows are one
# block, 2 x 256 rows two. float32 contracts all rows in one dot.
@pytest.mark.parametrize('x_shape', [(1, 37, 24), (2, 256, 24)])
def test_matmul_vjp_matches_autodiff_of_a_plain_matmul(x_shape):
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.standard_normal(x_shape), jnp.float32)
  w = jnp.asarray(rng.standard_normal((24, 10)), jnp.float32)
  g = jnp.asarray(rng.standard_normal(x.shape[:-1] + (10,)), jnp.float32)
  # Jitted: one compile each (eagerly, every primitive compiles on its own).
  grad = lambda f: jax.jit(jax.grad(f, argnums=(0, 1)))
  ours = grad(lambda x, w: jnp.sum(kernels.matmul(x, w) * g))(x, w)
  plain = grad(lambda x, w: jnp.sum((x @ w) * g))(x, w)
  np.testing.assert_allclose(jax.jit(kernels.matmul)(x, w), x @ w, rtol=1e-5, atol=1e-5)
  for a, b in zip(ours, plain):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  # bfloat16 operands: the same values up to bfloat16 rounding (~3 significant digits).
  bf16 = grad(lambda x, w: jnp.sum(kernels.matmul(x, w, 'bfloat16') * g))(x, w)
  for a, b in zip(bf16, plain):
    assert a.dtype == jnp.float32
    np.testing.assert_allclose(a, b, rtol=0.05, atol=0.05 * float(jnp.abs(b).max()))


def test_dense_rejects_other_contractions():
  dot_general = kernels.dot_general_for('float32')
  with pytest.raises(ValueError, match='x @ w only'):
    dot_general(jnp.ones((3, 4)), jnp.ones((3, 5)), (((0,), (0,)), ((), ())))


@pytest.mark.parametrize('matmul_dtype', ['float32', 'bfloat16'])
def test_off_the_cpu_the_plain_kernels_give_the_same_loss_and_gradients(monkeypatch,
                                                                         matmul_dtype):
  """kernels.cpu_tuned() is False on GPU/TPU: plain matmuls and a lax.scan with JAX's own
  backward pass replace the CPU-shaped custom VJPs. Same math, so the same loss and
  gradients up to float32 rounding (bfloat16: rounding of the same operands, the
  same on both paths; the sums' order differs)."""
  config = models.ModelConfig(vocab_size=11, variant='original', embed_dim=6, hidden_dim=8,
                              num_layers=2, matmul_dtype=matmul_dtype)
  params = models.init_params(config, jax.random.PRNGKey(0))
  windows = jax.random.randint(jax.random.PRNGKey(1), (3, 13), 0, 11)

  def loss_and_grads():
    model = models.LandauerLM(config)  # Kernels are chosen when the model is traced.
    return jax.value_and_grad(lambda p: losses.loss_fn(p, model, windows, 0.01)[0])(params)
  tuned = loss_and_grads()
  monkeypatch.setattr(kernels, 'cpu_tuned', lambda: False)
  assert kernels.default_original_scan() is kernels.autodiff_original_scan
  plain = loss_and_grads()
  np.testing.assert_allclose(plain[0], tuned[0], rtol=1e-6)
  # Each gradient leaf, relative to its norm. float32: the sums' order only.
  # bfloat16: JAX's own backward pass rounds cotangents and weight gradients to
  # bfloat16 (2^-8 = 0.4% each, compounding over the layers), the CPU one keeps float32.
  # Measured here: 2.5e-7 (float32) and 6.1e-3 (bfloat16).
  bound = 1e-5 if matmul_dtype == 'float32' else 2e-2
  for a, b in zip(jax.tree_util.tree_leaves(plain[1]), jax.tree_util.tree_leaves(tuned[1])):
    assert np.linalg.norm(a - b) <= bound * np.linalg.norm(b), (np.linalg.norm(a - b),
                                                                np.linalg.norm(b))


def test_small_scans_unroll_off_the_cpu_only(monkeypatch):
  """1 on the CPU (measured no slower there), OFF_CPU_UNROLL where cpu_tuned() is False;
  the off-CPU original scan (run unrolled above) reads it at trace time."""
  assert kernels.default_unroll() == 1
  monkeypatch.setattr(kernels, 'cpu_tuned', lambda: False)
  assert kernels.default_unroll() == kernels.OFF_CPU_UNROLL > 1
  h0, z = jnp.zeros((2, 3)), jax.random.normal(jax.random.PRNGKey(0), (11, 2, 3))
  scale, cos, sin = jnp.full(3, 0.5), jnp.cos(jnp.arange(3.0)), jnp.sin(jnp.arange(3.0))
  jaxpr = str(jax.make_jaxpr(kernels.autodiff_original_scan)(h0, z, scale, cos, sin))
  assert f'unroll={kernels.OFF_CPU_UNROLL}' in jaxpr
  np.testing.assert_allclose(kernels.autodiff_original_scan(h0, z, scale, cos, sin),
                             kernels.autodiff_original_scan(h0, z, scale, cos, sin, unroll=1),
                             rtol=1e-6, atol=1e-7)
