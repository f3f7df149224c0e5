"""No backprop, enforced: the field LM trains with JAX's differentiation switched off.

Two independent checks:

  * Runtime. Every differentiation entry point of JAX (the public `jax.grad`,
    `jax.vjp`, ... and the internal ones they all end in: `ad.jvp`,
    `ad.linearize`, the JVP/linearize traces, the transpose passes) is patched
    to raise AssertionError, JAX's caches are cleared so no trace made earlier
    can hide a call, and then `hebbian.hebbian_step` (jitted and eagerly) and a
    short `train.train` run must still work. Sanity tests show that the patch
    catches both direct and indirect uses (the original `jax.grad` object,
    captured before patching, still fails), so these tests can fail.

  * Source. Every .py file of the `fieldjax` package is tokenized and its NAME
    tokens (not its docstrings or comments) must not include a
    differentiation API or optax.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import tokenize

import jax
from jax._src import api as jax_api
from jax._src.interpreters import ad
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO_ROOT
from conftest import small_corpus
from fieldjax import field
from fieldjax import model
from fieldjax import perturbations
from fieldjax import recall
from fieldjax import config_schema as field_schema
from fieldjax import hebbian
from fieldjax import sites
from fieldjax import train
from landauerjax import input_pipeline

PUBLIC = ('grad', 'value_and_grad', 'vjp', 'jvp', 'linearize', 'jacfwd', 'jacrev',
          'hessian', 'linear_transpose')
# In jax 0.10.2 every public entry point above ends in ad.jvp / ad.linearize (and
# a JVPTrace or LinearizeTrace); ad.vjp no longer exists, kept for other versions.
AD_FUNCTIONS = ('vjp', 'jvp', 'linearize', 'linearize_jaxpr', 'jvp_jaxpr',
                'backward_pass', 'backward_pass3', 'closed_backward_pass')
AD_REQUIRED = ('jvp', 'linearize', 'backward_pass')
API_PRIVATE = ('_jvp', '_vjp')

# Captured before any patching: the originals must fail too (indirect calls).
ORIGINAL_GRAD = jax.grad
ORIGINAL_JVP = jax.jvp
ORIGINAL_VJP = jax.vjp
ORIGINAL_LINEARIZE = jax.linearize
ORIGINAL_JACFWD = jax.jacfwd
ORIGINAL_HESSIAN = jax.hessian


def _forbidden(name):
  def raiser(*args, **kwargs):
    raise AssertionError(f'Differentiation entry point {name} was called: the field LM '
                         'must learn without gradients.')
  raiser.__name__ = f'forbidden_{name.replace(".", "_")}'
  return raiser


def _patch(monkeypatch, layers=('public', 'api', 'ad')):
  """Makes the differentiation entry points of the given layers raise AssertionError."""
  for name in AD_REQUIRED:
    assert hasattr(ad, name), f'jax._src.interpreters.ad.{name} is gone: update this test.'
  if 'public' in layers:
    for name in PUBLIC:
      monkeypatch.setattr(jax, name, _forbidden(f'jax.{name}'))
  if 'api' in layers:
    for name in PUBLIC + API_PRIVATE:
      if hasattr(jax_api, name):
        monkeypatch.setattr(jax_api, name, _forbidden(f'jax._src.api.{name}'))
  if 'ad' in layers:
    for name in AD_FUNCTIONS:
      if hasattr(ad, name):
        monkeypatch.setattr(ad, name, _forbidden(f'ad.{name}'))
    # The traces every forward- or reverse-mode derivative runs under.
    for cls in (ad.JVPTrace, ad.LinearizeTrace):
      monkeypatch.setattr(cls, '__init__', _forbidden(f'ad.{cls.__name__}'))
  jax.clear_caches()  # Nothing traced before the patch may be reused.


@pytest.fixture
def no_autodiff(monkeypatch):
  """Every differentiation entry point of JAX raises AssertionError."""
  _patch(monkeypatch)
  yield
  monkeypatch.undo()
  jax.clear_caches()  # Nor anything traced under the patch afterwards.


# ---------------------------------------------------------------------------
# The patch works.
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures('no_autodiff')
def test_patch_blocks_direct_calls():
  square = lambda x: x ** 2
  with pytest.raises(AssertionError, match='without gradients'):
    jax.grad(square)(1.0)
  for name in ('value_and_grad', 'jacfwd', 'jacrev', 'hessian'):
    with pytest.raises(AssertionError):
      getattr(jax, name)(square)(1.0)
  with pytest.raises(AssertionError):
    jax.vjp(square, 1.0)
  with pytest.raises(AssertionError):
    jax.jvp(square, (1.0,), (1.0,))
  with pytest.raises(AssertionError):
    jax.linearize(square, 1.0)


@pytest.mark.parametrize('layer', ['api', 'ad'])
def test_each_internal_layer_blocks_indirect_calls(monkeypatch, layer):
  """The unpatched public functions reach either patched layer on its own."""
  _patch(monkeypatch, layers=(layer,))
  square = lambda x: x ** 2
  try:
    originals = [lambda: ORIGINAL_GRAD(square)(1.0),  # -> api.value_and_grad -> ad.linearize
                 lambda: ORIGINAL_JVP(square, (1.0,), (1.0,)),  # -> api._jvp -> ad.jvp
                 # Inside jit, and through a custom_jvp rule (jax.nn.relu has one).
                 lambda: jax.jit(ORIGINAL_GRAD(lambda x: jnp.sum(jax.nn.relu(x))))(jnp.ones(3))]
    if layer == 'ad':  # These call ad directly, not another api function.
      originals += [lambda: ORIGINAL_VJP(square, 1.0),
                    lambda: ORIGINAL_LINEARIZE(square, 1.0),
                    lambda: ORIGINAL_JACFWD(square)(1.0),
                    lambda: ORIGINAL_HESSIAN(square)(1.0)]
    for call in originals:
      with pytest.raises(AssertionError):
        call()
  finally:
    monkeypatch.undo()
    jax.clear_caches()


@pytest.mark.usefixtures('no_autodiff')
def test_patch_leaves_the_forward_pass_alone():
  x = jnp.linspace(-1.0, 1.0, 5)
  np.testing.assert_allclose(np.asarray(jax.jit(jax.nn.softmax)(x)),
                             np.exp(x) / np.exp(x).sum(), rtol=1e-6)
  assert float(jnp.sum(jax.nn.relu(x))) == pytest.approx(1.5)


def test_patch_is_undone():
  assert float(jax.grad(lambda x: x ** 2)(3.0)) == 6.0


# ---------------------------------------------------------------------------
# Training runs with it.
# ---------------------------------------------------------------------------

CFG = model.ModelConfig(vocab_size=11, embed_dim=8, lags=3, lattice_dim=32,
                        field=field.FieldConfig(chunk=4, window=8))


def _windows():
  return jnp.asarray(np.random.default_rng(0).integers(0, 11, (2, 9)), jnp.int32)


# CFG with the field's traces and a sparse crystal (field_best.py's parts).
SPARSE = dataclasses.replace(CFG, field=dataclasses.replace(CFG.field, trace_scales=2),
                             sites=sites.SitesConfig(table_bits=6, orders=(1, 2)))
# ... and with the lattice learned by the instar rule.
INSTAR = dataclasses.replace(SPARSE, lattice_rule='instar', lattice_winners=4)
# ... and with recall, its charges relaxing with the field (as field_best.py).
RECALL = dataclasses.replace(SPARSE, recall=recall.RecallConfig(softening=0.3, buckets=4,
                                                                dt=0.05))


@pytest.mark.usefixtures('no_autodiff')
@pytest.mark.parametrize('cfg', [CFG, SPARSE, INSTAR, RECALL],
                         ids=['dense', 'sparse', 'instar', 'recall'])
@pytest.mark.parametrize('jitted', [True, False])
def test_hebbian_step_needs_no_gradients(jitted, cfg):
  step = (jax.jit(hebbian.hebbian_step, static_argnames=('cfg',)) if jitted
          else hebbian.hebbian_step)
  params = model.init_params(cfg, jax.random.PRNGKey(0))
  kind = jnp.int32(perturbations.KINDS.index('adaptive'))
  new, metrics = step(params, _windows(), jax.random.PRNGKey(1), kind, cfg=cfg)
  assert float(jnp.abs(new['crystal']).sum()) > 0  # It learned something.
  lattice_moved = float(jnp.abs(new['lattice'] - params['lattice']).max())
  assert (lattice_moved > 0) == (cfg.lattice_rule == 'instar')
  if cfg.recall.enabled:
    assert float(jnp.abs(new['recall_gain']).sum()) > 0
  if cfg.sites.enabled:
    assert float(jnp.abs(new['site_table']).sum()) > 0
    assert float(jnp.sum(new['site_visits'])) == 2 * (8 + 7)  # Order 1: 8 a row, order 2: 7.
  assert float(jnp.sum(new['counts'])) == 11 + 2 * 8
  assert all(np.isfinite(float(v)) for v in metrics.values())


# The model and corpus of test_field_model.py's training tests: run in the same
# session, the XLA programs come from the persistent compilation cache (conftest);
# tracing and lowering, where a differentiation call would happen, still run.
TRAIN_FIELD = field.FieldConfig(chunk=16, window=16, num_steps=1)


@pytest.mark.usefixtures('no_autodiff')
def test_train_loop_needs_no_gradients(tmp_path):
  text = small_corpus()
  vocab = input_pipeline.CharVocab.from_texts(text)
  tokens = vocab.encode(text)
  cut = int(0.9 * len(tokens))
  cfg = model.ModelConfig(vocab_size=vocab.size, embed_dim=16, lags=4, lattice_dim=128,
                          field=TRAIN_FIELD)
  train_cfg = field_schema.TrainConfig(
      num_steps=3, batch_size=8, seq_len=16, eval_every=3, eval_stride=16,
      eval_batch_size=32, eval_max_tokens=100, checkpoint_every=3, log_every=1,
      perturbation_schedule='{"0": "levy", "1": "beta", "2": "adaptive"}')
  result = train.train(cfg, train_cfg, train_tokens=tokens[:cut],
                       validation_tokens=tokens[cut:], workdir=str(tmp_path))
  assert np.isfinite(result['val_ce']) and result['val_tokens'] == 100


# ---------------------------------------------------------------------------
# Source scan.
# ---------------------------------------------------------------------------

FORBIDDEN_NAMES = frozenset({'grad', 'value_and_grad', 'vjp', 'jvp', 'linearize', 'jacfwd',
                             'jacrev', 'hessian', 'optax', 'custom_vjp', 'linear_transpose'})


def forbidden_uses(source: str) -> list[tuple[int, str]]:
  """(line, token) of every use of a differentiation API in Python source.

  NAME tokens only, so docstrings and comments may discuss gradients; string
  literals that are exactly a forbidden name (getattr(jax, 'grad')) count too.
  """
  found = []
  for tok in tokenize.generate_tokens(io.StringIO(source).readline):
    if tok.type == tokenize.NAME and tok.string in FORBIDDEN_NAMES:
      found.append((tok.start[0], tok.string))
    elif tok.type == tokenize.STRING:
      try:
        value = ast.literal_eval(tok.string)
      except (ValueError, SyntaxError):
        continue
      if isinstance(value, str) and value.strip() in FORBIDDEN_NAMES:
        found.append((tok.start[0], value.strip()))
  return found


def test_scanner_flags_differentiation():
  assert forbidden_uses('import jax\nloss = jax.grad(f)(x)\n') == [(2, 'grad')]
  assert forbidden_uses('from jax import value_and_grad as vg\n') == [(1, 'value_and_grad')]
  assert forbidden_uses('import optax\n') == [(1, 'optax')]
  assert forbidden_uses('y, f_vjp = jax.vjp(f, x)\n') == [(1, 'vjp')]
  assert forbidden_uses('@jax.custom_vjp\ndef f(x):\n  return x\n') == [(1, 'custom_vjp')]
  assert forbidden_uses("g = getattr(jax, 'grad')\n") == [(1, 'grad')]
  assert forbidden_uses('h = jax.hessian(f)\nj = jax.jacrev(f)\n') == [(1, 'hessian'),
                                                                         (2, 'jacrev')]


def test_scanner_ignores_docstrings_and_comments():
  source = ('"""No jax.grad here, nor value_and_grad(...) or optax."""\n'
            'x = 1  # jax.grad(f) would be backprop.\n'
            'gradient = stop_gradient = 2\n'
            "msg = 'we never call grad( or vjp'\n")
  assert forbidden_uses(source) == []


def test_library_source_has_no_differentiation():
  package = REPO_ROOT / 'fieldjax'
  files = sorted(package.rglob('*.py'))
  names = {f.name for f in files}
  assert {'train.py', 'crystal.py', 'model.py', 'field.py', 'collapse.py'} <= names
  offenders = {}
  for path in files:
    hits = forbidden_uses(path.read_text(encoding='utf-8'))
    if hits:
      offenders[str(path.relative_to(REPO_ROOT))] = hits
  assert not offenders, f'Differentiation APIs used in the library: {offenders}'
