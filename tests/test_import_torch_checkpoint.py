"""Tests for scripts/import_torch_checkpoint.py against a PyTorch reference."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

torch = pytest.importorskip('torch')

_TESTS_DIR = pathlib.Path(__file__).resolve().parent
for _p in (_TESTS_DIR.parent, _TESTS_DIR):
  if str(_p) not in sys.path:
    sys.path.insert(0, str(_p))

from landauerjax import models  # pylint: disable=g-import-not-at-top
from scripts import import_torch_checkpoint as itc  # pylint: disable=g-import-not-at-top
import torch_reference as ref  # pylint: disable=g-import-not-at-top

V, E, H, L, C = 11, 5, 7, 2, 1.618
B, T = 3, 9
ITOS = list('zab cdefgh!')  # Deliberately unsorted: ids keep the original order.
# float32 logits of a few units after a 9-16 step tanh/cos recurrence, which amplifies
# rounding: float32 vs float64 differs by up to ~2e-5 over random models, and the
# kernels (torch's, XLA's) differ per CPU. A wrong conversion is off by far more.
LOGIT_ATOL = 5e-5
CONFIG = {'vocab_size': V, 'embedding_dim': E, 'hidden_size': H, 'n_layers': L,
          'scaling': C, 'seq_len': 32}


def _random_model(seed: int = 0) -> ref.OriginalLandauerLM:
  torch.manual_seed(seed)
  model = ref.OriginalLandauerLM(V, E, H, L, C)
  with torch.no_grad():
    for p in model.parameters():
      p.copy_(torch.randn_like(p) * 0.7)  # Nonzero, incl. random hidden_scale.
  return model.eval()


def _tokens(seed: int = 1) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, V, (B, T))


def _torch_logits(model: ref.OriginalLandauerLM, tokens: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return model(torch.from_numpy(tokens)).numpy()


def _flax_logits(params, cfg: models.ModelConfig, tokens: np.ndarray) -> np.ndarray:
  out = models.LandauerLM(cfg).apply({'params': params}, tokens,
                                     models.initial_state(cfg, tokens.shape[0]))
  return np.asarray(out[0])


def _numpy_loop(model: ref.OriginalLandauerLM, tokens: np.ndarray) -> np.ndarray:
  """The equations, unit by unit and step by step, in float64."""
  sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
  emb = sd['token_embedding.weight']
  h = np.zeros((L, H))
  out = np.zeros((B, T, V))
  for b in range(B):
    h[:] = 0.0
    for t in range(T):
      u = emb[tokens[b, t]]
      for l in range(L):
        phi = ref.GOLDEN_ANGLE / C**l
        w, bias = sd[f'rnn.input_linears.{l}.weight'], sd[f'rnn.input_linears.{l}.bias']
        new = np.empty(H)
        for k in range(H):
          hk = h[l, k]
          new[k] = np.tanh(w[k] @ u + bias[k]
                           + sd['rnn.hidden_scale'][l, k] * hk * np.cos(phi * k + hk))
        h[l] = new
        u = new
      out[b, t] = sd['output_head.weight'] @ u + sd['output_head.bias']
  return out


def test_torch_reference_matches_numpy_loop():
  model = _random_model()
  tokens = _tokens()
  np.testing.assert_allclose(_torch_logits(model, tokens), _numpy_loop(model, tokens),
                             atol=LOGIT_ATOL, rtol=0)
  assert [n for n, _ in model.named_parameters()] == [
      'token_embedding.weight', 'rnn.hidden_scale', 'rnn.input_linears.0.weight',
      'rnn.input_linears.0.bias', 'rnn.input_linears.1.weight',
      'rnn.input_linears.1.bias', 'output_head.weight', 'output_head.bias']
  assert model.rnn.hidden_scale.shape == (L, H)


def test_nested_checkpoint_round_trip(tmp_path):
  model = _random_model()
  path = tmp_path / 'orig.pth'
  ref.save_original_checkpoint(path, model, CONFIG, ITOS)
  state, config, itos = itc.load_original(str(path))
  assert itos == ITOS and config == CONFIG
  assert all(isinstance(v, np.ndarray) for v in state.values())
  cfg = itc.model_config_from_original(config, state)
  assert cfg == models.ModelConfig(vocab_size=V, variant='original', embed_dim=E,
                                   hidden_dim=H, num_layers=L, phase_scaling=C)
  params = itc.convert_params(state, cfg)
  tokens = _tokens()
  np.testing.assert_allclose(_flax_logits(params, cfg, tokens),
                             _torch_logits(model, tokens), atol=LOGIT_ATOL, rtol=0)
  assert itc.max_logit_difference(state, params, cfg) < LOGIT_ATOL


def _flat_state(model: ref.OriginalLandauerLM, parameter_list: bool) -> dict:
  sd = dict(model.state_dict())
  if parameter_list:
    scale = sd.pop('rnn.hidden_scale')
    sd.update({f'rnn.hidden_scale.{l}': scale[l].clone() for l in range(L)})
  return sd


@pytest.mark.parametrize('parameter_list', [False, True])
@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_flat_layout_and_parameter_list(tmp_path, parameter_list, prefix):
  model = _random_model(seed=2)
  sd = {prefix + k: v for k, v in _flat_state(model, parameter_list).items()}
  itos = dict(enumerate(ITOS))  # Dict form of itos.
  config = {'vocab_size': V, 'embed_dim': E, 'hidden_dim': H, 'num_layers': L,
            'phase_scaling': C}
  path = tmp_path / 'flat.pth'
  torch.save({**sd, 'config': config, 'itos': itos}, path)
  state, config, itos = itc.load_original(str(path))
  assert itos == ITOS
  cfg = itc.model_config_from_original(config, state)
  params = itc.convert_params(state, cfg)
  tokens = _tokens(seed=3)
  np.testing.assert_allclose(_flax_logits(params, cfg, tokens),
                             _torch_logits(model, tokens), atol=LOGIT_ATOL, rtol=0)


def test_shared_hidden_scale():
  model = _random_model(seed=4)
  with torch.no_grad():
    model.rnn.hidden_scale[1] = model.rnn.hidden_scale[0]
  sd = {k: v.numpy() for k, v in model.state_dict().items()}
  sd['rnn.hidden_scale'] = sd['rnn.hidden_scale'][0]  # One (H,) for all layers.
  cfg = itc.model_config_from_original(CONFIG, sd)
  params = itc.convert_params(sd, cfg)
  tokens = _tokens()
  np.testing.assert_allclose(_flax_logits(params, cfg, tokens),
                             _torch_logits(model, tokens), atol=LOGIT_ATOL, rtol=0)


def test_missing_tensor_names_key(tmp_path):
  sd = dict(_random_model().state_dict())
  del sd['output_head.bias']
  path = tmp_path / 'missing.pth'
  torch.save({'state_dict': sd, 'config': CONFIG, 'itos': ITOS}, path)
  state, config, _ = itc.load_original(str(path))
  cfg = itc.model_config_from_original(config, state)
  with pytest.raises(ValueError, match=r"'output_head\.bias'.*keys found.*output_head\.weight"):
    itc.convert_params(state, cfg)


def test_missing_hidden_scale_and_phase_scaling():
  sd = {k: v.numpy() for k, v in _random_model().state_dict().items()}
  with pytest.raises(ValueError, match=r"'phase_scaling'.*keys found.*vocab_size"):
    itc.model_config_from_original({'vocab_size': V}, sd)
  cfg = itc.model_config_from_original(CONFIG, sd)
  del sd['rnn.hidden_scale']
  with pytest.raises(ValueError, match=r"'rnn\.hidden_scale'"):
    itc.convert_params(sd, cfg)


def test_missing_config_or_itos(tmp_path):
  sd = _random_model().state_dict()
  path = tmp_path / 'noconfig.pth'
  torch.save({'model_state_dict': sd, 'itos': ITOS}, path)
  with pytest.raises(ValueError, match=r"'config'.*model_state_dict"):
    itc.load_original(str(path))
  torch.save({'model_state_dict': sd, 'config': CONFIG}, path)
  with pytest.raises(ValueError, match=r"'itos'"):
    itc.load_original(str(path))


def test_config_contradicting_shapes():
  sd = {k: v.numpy() for k, v in _random_model().state_dict().items()}
  with pytest.raises(ValueError, match='hidden_size'):
    itc.model_config_from_original({**CONFIG, 'hidden_size': H + 1}, sd)


def test_missing_file(tmp_path):
  path = tmp_path / 'nope.pth'
  with pytest.raises(FileNotFoundError, match='nope.pth'):
    itc.load_original(str(path))


def test_written_checkpoint_loads_for_inference(tmp_path):
  checkpoints = pytest.importorskip('landauerjax.checkpoints')
  model = _random_model(seed=5)
  path = tmp_path / 'orig.pth'
  ref.save_original_checkpoint(path, model, CONFIG, ITOS)
  state, config, itos = itc.load_original(str(path))
  cfg = itc.model_config_from_original(config, state)
  params = itc.convert_params(state, cfg)
  workdir = str(tmp_path / 'workdir')
  itc.write_checkpoint(workdir, params, cfg, ''.join(itos), {'source': str(path)})
  loaded = checkpoints.load_for_inference(workdir)
  assert loaded.model_config == cfg
  assert loaded.vocab.chars == ''.join(ITOS)
  tokens = _tokens()
  np.testing.assert_allclose(_flax_logits(loaded.params, loaded.model_config, tokens),
                             _torch_logits(model, tokens), atol=LOGIT_ATOL, rtol=0)
