"""Tests of landauerjax.recurrences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from landauerjax import recurrences


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
