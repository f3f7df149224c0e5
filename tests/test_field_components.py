"""fieldjax.components and model.forward: one forward pass for training, evaluation and
generation; a component registered in one place reaches every part of the pipeline."""

from __future__ import annotations

import contextlib
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from field_fixtures import SPARSE, TINY, char_corpus, trained_like_params
from fieldjax import checkpoints
from fieldjax import components
from fieldjax import generation
from fieldjax import model
from fieldjax import perturbations
from fieldjax import recall
from fieldjax import config_schema as field_schema
from fieldjax import hebbian
from fieldjax import train
from landauerjax.core import sharding

NONE = jnp.int32(perturbations.KINDS.index('none'))
RECALL = dataclasses.replace(SPARSE, recall=recall.RecallConfig(softening=0.3, buckets=4,
                                                                dt=0.05))
INSTAR = dataclasses.replace(RECALL, lattice_rule='instar', lattice_winners=4)

hebbian_step = jax.jit(hebbian.hebbian_step, static_argnames=('cfg',))
log_probs = jax.jit(model.log_probs, static_argnames=('cfg',))
next_token_logits = jax.jit(generation.next_token_logits, static_argnames=('cfg',))
forward = jax.jit(model.forward, static_argnames=('cfg', 'last_only'))


def _params(cfg: model.ModelConfig) -> dict[str, jax.Array]:
  params = trained_like_params(cfg)
  if cfg.recall.enabled:
    params['recall_gain'] = jnp.linspace(0.5, 2.0, cfg.recall.buckets)
  return params


@pytest.mark.parametrize('cfg', [TINY, SPARSE, RECALL, INSTAR],
                         ids=['dense', 'sparse', 'recall', 'instar'])
def test_training_evaluation_and_generation_predict_alike(cfg):
  """The CE hebbian_step reports (unperturbed) is log_probs' on the same windows, and
  generation's logits after each prefix are log_probs' at its last position."""
  params = _params(cfg)
  windows = jnp.asarray(np.random.default_rng(0).integers(0, cfg.vocab_size, (3, 10)),
                        jnp.int32)
  inputs, targets = windows[:, :-1], windows[:, 1:]
  lp = log_probs(params, inputs, cfg)
  eval_ce = -float(jnp.mean(jnp.take_along_axis(lp, targets[..., None], -1)))
  # The step donates nothing here; it reports the CE before its update.
  _, metrics = hebbian_step(params, windows, jax.random.PRNGKey(5), NONE, cfg=cfg)
  assert float(metrics['ce']) == pytest.approx(eval_ce, rel=1e-6)
  context = 12  # Right-aligned in the buffer, left padding invalid.
  for b, length in ((0, 1), (1, 5), (2, 9)):
    buffer = jnp.zeros((context,), jnp.int32).at[context - length:].set(inputs[b, :length])
    valid = jnp.arange(context) >= context - length
    got = jax.nn.log_softmax(next_token_logits(params, buffer, valid, cfg))
    expected = lp[b, length - 1]
    # Two float32 paths (buffer vs sequence): a few ulps of the largest |log-prob|.
    scale = float(jnp.abs(expected).max())
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=0,
                               atol=16 * np.finfo(np.float32).eps * scale)


def test_forward_returns_every_components_reading():
  cfg = INSTAR
  params = _params(cfg)
  tokens = jnp.asarray(np.random.default_rng(1).integers(0, cfg.vocab_size, (2, 7)), jnp.int32)
  out = forward(params, tokens, jax.random.PRNGKey(0), NONE, cfg)
  assert set(out.features) == {'crystal', 'sites', 'recall'}
  assert out.x_BxTxD.shape == (2, 7, cfg.embed_dim)
  assert out.coherence_BxS1.shape == (2, cfg.field.num_steps + 1)
  assert out.logits_NxV.shape == (14, cfg.vocab_size)
  assert out.features['crystal'].phi_NxD.shape == (14, cfg.lattice_dim)
  assert out.features['sites'][0].shape == (14, len(cfg.sites.orders))
  # The logits are the sum of the components' terms, in registry order.
  terms = [c.logits(params, out.features[c.name], cfg) for c in components.active(cfg)]
  np.testing.assert_array_equal(np.asarray(out.logits_NxV),
                                np.asarray(terms[0] + terms[1] + terms[2]))
  last = forward(params, tokens, jax.random.PRNGKey(0), NONE, cfg, last_only=True)
  assert last.logits_NxV.shape == (2, cfg.vocab_size)
  np.testing.assert_allclose(np.asarray(last.logits_NxV), np.asarray(out.logits_NxV[6::7]),
                             rtol=1e-6, atol=1e-5)


def test_every_registered_component_is_consistent():
  """Each component's settings are a ModelConfig field whose default turns it off (so a
  checkpoint from before it loads as the model it was); its specs name exactly its
  parameters; no two parts share a parameter name."""
  default = model.ModelConfig(vocab_size=4)
  nested = model.nested_configs()
  assert set(nested) >= {'field', 'perturbation', 'collapse', 'sites', 'recall'}
  for component in components.COMPONENTS:
    if component.config is not None:
      assert component.config in nested
      assert not component.enabled(default), component.name
  everything = INSTAR
  assert {c.name for c in components.active(everything)} == {c.name
                                                              for c in components.COMPONENTS}
  shapes = jax.eval_shape(lambda k: model.init_params(everything, k), jax.random.PRNGKey(0))
  assert set(model.param_specs(everything)) == set(shapes)
  for component in components.COMPONENTS:
    assert set(component.specs(everything)) == set(component.init(everything,
                                                                  jax.random.PRNGKey(0)))


# ---------------------------------------------------------------------------
# A toy component, registered in one place: a bigram memory learned by counting.
# ---------------------------------------------------------------------------


def _bigram_learn(params, tokens_N, outcome, cfg):
  """Hebbian counting: the synapse from the current token to the next one grows by 1."""
  del cfg
  return {'toy_bigram': params['toy_bigram'].at[tokens_N, outcome.targets_N].add(1.0)}


BIGRAM = components.Component(
    name='toy',
    enabled=lambda cfg: True,
    init=lambda cfg, key: {'toy_bigram': jnp.zeros((cfg.vocab_size, cfg.vocab_size))},
    specs=lambda cfg: {'toy_bigram': jax.sharding.PartitionSpec(sharding.MODEL, None)},
    features=lambda params, batch, cfg: batch.positions(batch.tokens_BxT),  # [N] tokens.
    logits=lambda params, tokens_N, cfg: jnp.log1p(params['toy_bigram'][tokens_N]),
    learn=_bigram_learn)


def _forget_traces():
  """Traces made with another registry must not be reused (the registry is read when a
  function is traced)."""
  jax.clear_caches()
  hebbian._compiled.cache_clear()  # pylint: disable=protected-access


@contextlib.contextmanager
def _registered(monkeypatch, component):
  monkeypatch.setattr(components, 'COMPONENTS', components.COMPONENTS + (component,))
  _forget_traces()
  try:
    yield
  finally:
    monkeypatch.undo()
    _forget_traces()


# TINY with one field step (trained on the small corpus's characters below).
TOY_CFG = dataclasses.replace(TINY, field=dataclasses.replace(TINY.field, num_steps=1))


def test_a_registered_component_joins_init_shardings_forward_and_the_step(monkeypatch):
  cfg = dataclasses.replace(SPARSE, field=dataclasses.replace(SPARSE.field, num_steps=1))
  key = jax.random.PRNGKey(0)
  tokens = jnp.asarray(np.random.default_rng(2).integers(0, cfg.vocab_size, (2, 8)), jnp.int32)
  with _registered(monkeypatch, BIGRAM):
    params = model.init_params(cfg, key)
    assert params['toy_bigram'].shape == (cfg.vocab_size, cfg.vocab_size)
    abstract = checkpoints.abstract_state(cfg)['params']
    assert abstract['toy_bigram'].shape == (cfg.vocab_size, cfg.vocab_size)
    mesh = sharding.make_mesh(1)
    assert model.param_shardings(mesh, cfg)['toy_bigram'].spec == jax.sharding.PartitionSpec(
        sharding.MODEL, None)
    # Its term joins the logits: log(1 + count of (current token, next token)).
    table = jnp.asarray(np.random.default_rng(3).integers(0, 5, (cfg.vocab_size,) * 2),
                        jnp.float32)
    with_toy = forward({**params, 'toy_bigram': table}, tokens, key, NONE, cfg)
    without = forward(params, tokens, key, NONE, cfg)
    np.testing.assert_array_equal(np.asarray(with_toy.features['toy']),
                                  np.asarray(tokens.reshape(-1)))
    np.testing.assert_allclose(np.asarray(with_toy.logits_NxV - without.logits_NxV),
                               np.asarray(jnp.log1p(table[tokens.reshape(-1)])), atol=1e-5)
    # Evaluation and generation read it alike.
    np.testing.assert_allclose(
        np.asarray(jax.nn.log_softmax(next_token_logits(
            {**params, 'toy_bigram': table}, tokens[1], jnp.ones((8,), bool), cfg))),
        np.asarray(log_probs({**params, 'toy_bigram': table}, tokens, cfg)[1, -1]), atol=1e-5)
    # The training step applies its rule: every (token, next token) of the windows counted.
    windows = jnp.concatenate([tokens, tokens[:, :1]], axis=1)
    new, _ = hebbian_step(params, windows, key, NONE, cfg=cfg)
    expected = np.zeros((cfg.vocab_size,) * 2, np.float32)
    np.add.at(expected, (np.asarray(windows[:, :-1]), np.asarray(windows[:, 1:])), 1.0)
    np.testing.assert_array_equal(np.asarray(new['toy_bigram']), expected)
    assert float(jnp.abs(new['site_table']).sum()) > 0  # The others learn as before.
  assert 'toy_bigram' not in model.init_params(cfg, key)  # Unregistered again.


def test_a_registered_component_is_saved_resumed_and_generates(monkeypatch, tmp_path):
  cfg, train_tokens, val_tokens = char_corpus(TOY_CFG)
  make = lambda steps: field_schema.TrainConfig(
      num_steps=steps, batch_size=4, seq_len=8, log_every=1, eval_every=2, checkpoint_every=2,
      eval_stride=8, eval_max_tokens=64, eval_batch_size=8,
      perturbation_schedule='{"0": "levy", "2": "beta"}')
  run = lambda steps, workdir: train.train(cfg, make(steps), train_tokens=train_tokens,
                                           validation_tokens=val_tokens, workdir=str(workdir))
  with _registered(monkeypatch, BIGRAM):
    whole = run(4, tmp_path / 'whole')
    run(2, tmp_path / 'split')
    assert run(4, tmp_path / 'split') == whole  # Resumed from step 2's checkpoint.
    _, params, loaded_cfg, _ = checkpoints.load(str(tmp_path / 'whole'))
    _, resumed, _, _ = checkpoints.load(str(tmp_path / 'split'))
    assert loaded_cfg == cfg
    for name in params:
      np.testing.assert_array_equal(np.asarray(params[name]), np.asarray(resumed[name]))
    # 4 steps of 4 windows of 8 positions, each counted once.
    assert float(jnp.sum(params['toy_bigram'])) == 4 * 4 * 8
    # Generation reads it: with the dense crystal emptied and one successor per token counted
    # a million times, greedy sampling follows them.
    chain = jnp.zeros((cfg.vocab_size,) * 2).at[
        jnp.arange(cfg.vocab_size), (jnp.arange(cfg.vocab_size) + 1) % cfg.vocab_size].set(1e6)
    toy_only = {**params, 'crystal': jnp.zeros_like(params['crystal']), 'toy_bigram': chain}
    tokens = next(generation.generate(toy_only, cfg, np.array([0]), num_tokens=5,
                                      key=jax.random.PRNGKey(0), top_k=1, context=8))['tokens']
    np.testing.assert_array_equal(tokens, np.arange(1, 6) % cfg.vocab_size)
