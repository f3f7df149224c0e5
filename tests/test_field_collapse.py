"""fieldjax.collapse: coherence and coherence-driven sampling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from field_fixtures import coherence
from fieldjax import collapse as collapse_lib
from fieldjax import embeddings
from fieldjax import perturbations


def test_coherence_range_and_extremes():
  rng = np.random.default_rng(0)
  for _ in range(10):
    v = jnp.asarray(rng.standard_normal((6, 5)), jnp.float32)
    w = jnp.asarray(rng.uniform(0, 1, 6), jnp.float32)
    for c in (coherence(v), coherence(v, w)):
      assert 0.0 <= float(c) <= 1.0 + 1e-6
  same = jnp.tile(jnp.asarray([[0.3, -1.2, 2.0]]), (5, 1))
  assert float(coherence(same)) == pytest.approx(1.0, abs=1e-6)
  assert float(coherence(same, jnp.arange(5.0))) == pytest.approx(1.0, abs=1e-6)
  cancel = jnp.asarray([[1.0, 2.0, 0.5], [-1.0, -2.0, -0.5]])
  assert float(coherence(cancel)) == pytest.approx(0.0, abs=1e-6)
  ring = jnp.stack([jnp.cos(jnp.arange(8) * jnp.pi / 4), jnp.sin(jnp.arange(8) * jnp.pi / 4)], 1)
  assert float(coherence(ring)) == pytest.approx(0.0, abs=1e-6)
  # A prediction's coherence is |psi| for unit-norm embeddings.
  emb = jnp.asarray(embeddings.embedding_table('golden', 11, 8))
  logits = jnp.asarray(rng.standard_normal(11), jnp.float32)
  psi = jax.nn.softmax(logits) @ emb
  assert float(collapse_lib.prediction_coherence(logits, emb)) == pytest.approx(
      float(jnp.linalg.norm(psi)), rel=1e-5)


def _collapse(key, logits, emb, max_steps, rule='replicator', kind='none', **kwargs):
  return collapse_lib.collapse(
      key, logits, emb, kind=kind,
      cfg=collapse_lib.CollapseConfig(max_steps=max_steps, rule=rule),
      perturbation=perturbations.PerturbationConfig(), **kwargs)


@pytest.fixture(scope='module')
def prediction():
  emb = jnp.asarray(embeddings.embedding_table('golden', 11, 8))
  logits = jnp.asarray(np.random.default_rng(2).normal(0.0, 0.5, 11), jnp.float32)
  assert float(collapse_lib.prediction_coherence(logits, emb)) < 0.5
  return logits, emb


def test_collapse_stops_when_coherence_first_reaches_threshold(prediction):
  logits, emb = prediction
  key = jax.random.PRNGKey(0)
  _, info = _collapse(key, logits, emb, 64)
  steps = int(info['steps'])
  assert bool(info['reached']) and float(info['coherence']) >= 0.91
  assert 1 < steps < 64
  _, early = _collapse(key, logits, emb, steps - 1)
  assert not bool(early['reached']) and float(early['coherence']) < 0.91
  assert int(early['steps']) == steps - 1
  # The same flow in NumPy: logits += rate * dt * E psi, psi = softmax(logits) E.
  lg, e = np.asarray(logits, np.float64), np.asarray(emb, np.float64)
  trajectory = []
  for _ in range(steps + 1):
    p = np.exp(lg - lg.max())
    psi = (p / p.sum()) @ e
    trajectory.append(np.linalg.norm(psi))
    lg = lg + 2.0 * 0.5 * (e @ psi)
  assert max(trajectory[:steps]) < 0.91 + 1e-4 and trajectory[steps] >= 0.91 - 1e-4
  np.testing.assert_allclose(float(info['coherence']), trajectory[steps], rtol=1e-4)


def test_collapse_hits_the_cap(prediction):
  logits, emb = prediction
  _, info = _collapse(jax.random.PRNGKey(0), logits, emb, 1)
  assert int(info['steps']) == 1 and not bool(info['reached'])
  assert float(info['coherence']) < 0.91


def test_collapse_of_a_coherent_prediction_takes_no_steps(prediction):
  _, emb = prediction
  sure = jnp.zeros(11).at[4].set(30.0)
  token, info = _collapse(jax.random.PRNGKey(0), sure, emb, 64)
  assert int(info['steps']) == 0 and bool(info['reached']) and int(token) == 4


def test_collapse_without_steps_is_temperature_sampling(prediction):
  logits, emb = prediction
  temperature = 0.7
  keys = jax.random.split(jax.random.PRNGKey(1), 4000)
  tokens = np.asarray(jax.jit(jax.vmap(
      lambda k: _collapse(k, logits, emb, 0, temperature=temperature)[0]))(keys))
  # The sample is categorical(logits / temperature) with collapse's sampling key.
  for key, token in zip(keys[:5], tokens[:5]):
    expected = jax.random.categorical(jax.random.split(key)[1], logits / temperature)
    assert token == int(expected)
  freq = np.bincount(tokens, minlength=11) / len(tokens)
  probs = np.asarray(jax.nn.softmax(logits / temperature))
  np.testing.assert_array_less(np.abs(freq - probs), 5 * np.sqrt(probs * (1 - probs) / 4000))


@pytest.mark.parametrize('rule', collapse_lib.RULES)
@pytest.mark.parametrize('max_steps', [0, 64])
def test_collapse_top_k_restricts_support(prediction, max_steps, rule):
  logits, emb = prediction
  keys = jax.random.split(jax.random.PRNGKey(2), 500)
  sample = jax.jit(jax.vmap(lambda k: _collapse(k, logits, emb, max_steps, rule, top_k=3)[0]))
  tokens = set(np.asarray(sample(keys)).tolist())
  assert 1 <= len(tokens) <= 3
  if max_steps == 0 or rule == 'measurement':  # The top 3 of the initial logits.
    assert tokens == set(np.argsort(-np.asarray(logits))[:3].tolist())


def _frequencies(logits, emb, num, **kwargs):
  keys = jax.random.split(jax.random.PRNGKey(3), num)
  sample = jax.jit(jax.vmap(lambda k: _collapse(k, logits, emb, **kwargs)))
  tokens, info = sample(keys)
  return np.bincount(np.asarray(tokens), minlength=len(logits)) / num, info


@pytest.mark.parametrize('kind, num, top_ks', [('none', 20000, (0, 5)), ('beta', 6000, (0,)),
                                               ('adaptive', 6000, (0,))])
def test_measurement_collapse_draws_with_the_initial_probabilities(prediction, kind, num, top_ks):
  # Born's rule: whatever path the weak measurements take, the token's law is
  # softmax(logits / T) (top-k restricted). Each frequency within 5 binomial standard
  # deviations (a false alarm has probability ~1e-5 over 11 tokens); random Beta steps
  # are slow to draw, so those kinds get fewer collapses.
  logits, emb = prediction
  temperature = 0.7
  for top_k in top_ks:
    freq, info = _frequencies(logits, emb, num, max_steps=64, rule='measurement', kind=kind,
                              temperature=temperature, top_k=top_k)
    probs = np.asarray(jax.nn.softmax(collapse_lib.top_k_logits(logits / temperature, top_k)))
    np.testing.assert_array_less(np.abs(freq - probs),
                                 5 * np.sqrt(probs * (1 - probs) / num) + 1e-12)
    # It did collapse: most draws reached the threshold after several steps.
    assert np.mean(np.asarray(info['reached'])) > 0.9
    assert np.mean(np.asarray(info['steps'])) > 2


def test_replicator_collapse_sharpens_the_prediction(prediction):
  # The original rule is a deterministic flow towards the likely tokens: it samples the
  # most likely token far more often than its probability (why its samples loop).
  logits, emb = prediction
  num = 4000
  freq, _ = _frequencies(logits, emb, num, max_steps=64, rule='replicator')
  probs = np.asarray(jax.nn.softmax(logits))
  top = int(np.argmax(probs))
  assert freq[top] > probs[top] + 10 * np.sqrt(probs[top] * (1 - probs[top]) / num)


def test_measurement_step_is_a_martingale(prediction):
  # One weak measurement: E[p' | p] = p (Bayes' rule with the reading's own law).
  # 40,000 readings; each mean within 5 standard errors of the sample.
  logits, emb = prediction
  cfg = collapse_lib.CollapseConfig(max_steps=1, threshold=1.1, rule='measurement')

  def after_one(key):
    lg, _ = collapse_lib.evolve(key, logits, emb, kind='none', cfg=cfg,
                                perturbation=perturbations.PerturbationConfig())
    return jax.nn.softmax(lg)

  probs_NxV = np.asarray(jax.jit(jax.vmap(after_one))(jax.random.split(jax.random.PRNGKey(4),
                                                                       40000)))
  p0 = np.asarray(jax.nn.softmax(logits))
  mean, sem = probs_NxV.mean(0), probs_NxV.std(0) / np.sqrt(len(probs_NxV))
  np.testing.assert_array_less(np.abs(mean - p0), 5 * sem + 1e-6)
  assert np.mean(np.abs(probs_NxV - p0)) > 0.01  # ... and it did move p.


def test_collapse_config_rejects_unknown_rule_and_bad_values():
  with pytest.raises(ValueError, match='collapse.rule'):
    collapse_lib.CollapseConfig(rule='gravity')
  with pytest.raises(ValueError, match='max_steps'):
    collapse_lib.CollapseConfig(max_steps=-1)
  with pytest.raises(ValueError, match='rate'):
    collapse_lib.CollapseConfig(rate=0.0)


@pytest.mark.parametrize('temperature', [0.0, -1.0])
def test_collapse_rejects_non_positive_temperature(prediction, temperature):
  logits, emb = prediction
  with pytest.raises(ValueError, match='temperature'):
    _collapse(jax.random.PRNGKey(0), logits, emb, 4, temperature=temperature)
