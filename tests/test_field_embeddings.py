"""fieldjax.embeddings: golden and log-phase tables, spreads, generalized golden ratio."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from fieldjax import constants
from fieldjax import embeddings
from fieldjax import model


@pytest.mark.parametrize('kind', embeddings.EMBEDDINGS)
def test_embedding_table_is_deterministic_and_unit_norm(kind):
  a = embeddings.embedding_table(kind, 65, 64)
  b = embeddings.embedding_table(kind, 65, 64)
  assert a.shape == (65, 64) and a.dtype == np.float32
  np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
  # The cached golden table is not mutated by a caller's edits of a result.
  a[:] = 0.0
  np.testing.assert_array_equal(embeddings.embedding_table(kind, 65, 64), b)


def test_golden_table_is_unit_norm_before_normalisation():
  raw = embeddings.embedding_table('golden', 100, 16, normalize=False)
  np.testing.assert_allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-6)
  # Log-phase changes the geometry: raw rows are no longer unit norm.
  raw_log = embeddings.embedding_table('log_phase', 100, 16, normalize=False)
  assert np.abs(np.linalg.norm(raw_log, axis=1) - 1.0).max() > 0.1


@pytest.mark.parametrize('vocab_size,dim', [(65, 64), (256, 64), (1000, 128)])
@pytest.mark.parametrize('kind', ['golden', 'log_phase'])
def test_golden_embeddings_spread_better_than_random(kind, vocab_size, dim):
  ours = embeddings.spread_stats(embeddings.embedding_table(kind, vocab_size, dim))
  randoms = [embeddings.spread_stats(embeddings.embedding_table('random', vocab_size, dim,
                                                                seed=s))
             for s in range(5)]
  mean_max_cos = np.mean([r['max_abs_cosine'] for r in randoms])
  mean_min_dist = np.mean([r['min_distance'] for r in randoms])
  assert ours['max_abs_cosine'] < mean_max_cos, (ours, mean_max_cos)
  assert ours['min_distance'] > mean_min_dist, (ours, mean_min_dist)


def test_spread_stats_of_known_configurations():
  square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
  stats = embeddings.spread_stats(square)
  assert stats['max_abs_cosine'] == pytest.approx(1.0)  # Antipodes: |cos| = 1.
  assert stats['min_distance'] == pytest.approx(math.sqrt(2.0))
  assert stats['rms_cosine'] == pytest.approx(math.sqrt(4 / 12))


def test_generalized_golden_ratio():
  assert embeddings.generalized_golden_ratio(1) == pytest.approx(constants.PHI, abs=1e-12)
  previous = math.inf
  for n in (1, 2, 3, 4, 8, 32, 64, 512):
    x = embeddings.generalized_golden_ratio(n)
    assert x ** (n + 1) == pytest.approx(x + 1.0, rel=1e-12), n
    assert 1.0 < x < previous  # Decreasing towards 1 as n grows.
    previous = x
  with pytest.raises(ValueError, match='0'):
    embeddings.generalized_golden_ratio(0)


def test_golden_angles_one_circle_steps_by_the_golden_angle():
  theta = embeddings.golden_angles(20, 1)[:, 0]
  steps = np.mod(np.diff(theta), 2 * math.pi)
  # alpha_1 = 1/PHI = PHI - 1, so consecutive angles differ by 2 pi (PHI - 1) = 2 pi - golden angle.
  np.testing.assert_allclose(np.mod(-steps, 2 * math.pi), constants.GOLDEN_ANGLE, atol=1e-9)


def test_embedding_table_rejects_bad_arguments():
  with pytest.raises(ValueError, match="'spiral'"):
    embeddings.embedding_table('spiral', 10, 8)
  with pytest.raises(ValueError, match='7'):
    embeddings.embedding_table('golden', 10, 7)
  with pytest.raises(ValueError, match='0'):
    embeddings.embedding_table('golden', 10, 0)
  with pytest.raises(ValueError, match='vocab_size'):
    embeddings.embedding_table('golden', 0, 8)
  with pytest.raises(ValueError, match="'spiral'"):
    model.ModelConfig(vocab_size=11, embedding='spiral')


def test_log_phase_is_odd_and_monotone():
  x = jnp.linspace(-50.0, 50.0, 2001)
  scale = embeddings.default_log_phase_scale(64)
  y = np.asarray(embeddings.log_phase(x, scale))
  np.testing.assert_allclose(np.asarray(embeddings.log_phase(-x, scale)), -y, atol=0)
  assert np.all(np.diff(y) > 0)
  assert float(embeddings.log_phase(jnp.float32(0.0), scale)) == 0.0
  np.testing.assert_allclose(float(embeddings.log_phase(jnp.float32(2.0), 0.5)),
                             math.log(5.0), rtol=1e-6)
