"""landauerjax.torch_import against the PyTorch reference, and its CLI."""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip('torch')

# pylint: disable=g-import-not-at-top,g-bad-import-order
from landauerjax import models
from landauerjax import torch_import as itc
from landauerjax import torch_reference as ref
from landauerjax.core import errors
from torch_fixtures import B, C, E, H, L, T, V
from torch_fixtures import random_model as _random_model
import entry_point_driver
from tests.conftest import REPO_ROOT

ITOS = list('zab cdefgh!')  # Deliberately unsorted: ids keep the original order.
# float32 logits of a few units after a 9-16 step tanh/cos recurrence, which amplifies
# rounding: float32 vs float64 differs by up to ~2e-5 over random models, and the
# kernels (torch's, XLA's) differ per CPU. A wrong conversion is off by far more.
LOGIT_ATOL = 5e-5
CONFIG = {'vocab_size': V, 'embedding_dim': E, 'hidden_size': H, 'n_layers': L,
          'scaling': C, 'seq_len': 32}



def _tokens(seed: int = 1) -> np.ndarray:
  return np.random.default_rng(seed).integers(0, V, (B, T))


def _torch_logits(model: ref.OriginalLandauerLM, tokens: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return model(torch.from_numpy(tokens)).numpy()


def _flax_logits(params, cfg: models.ModelConfig, tokens: np.ndarray) -> np.ndarray:
  out = models.LandauerLM(cfg).apply({'params': params}, tokens,
                                     models.initial_state(cfg, tokens.shape[0]))
  return np.asarray(out[0])


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


def test_convert_checkpoint_checks_the_vocabulary_size(tmp_path):
  model = _random_model(seed=6)
  path = tmp_path / 'orig.pth'
  ref.save_original_checkpoint(path, model, CONFIG, ITOS)
  converted = itc.convert_checkpoint(str(path))
  assert converted.vocab_chars == ''.join(ITOS) and converted.original_config == CONFIG
  np.testing.assert_allclose(_flax_logits(converted.params, converted.model_config, _tokens()),
                             _torch_logits(model, _tokens()), atol=LOGIT_ATOL, rtol=0)
  ref.save_original_checkpoint(path, model, CONFIG, ITOS[:-1])
  with pytest.raises(ValueError, match='itos has 10 characters, the embedding 11 rows'):
    itc.convert_checkpoint(str(path))


class _PickledAs:
  """Unpickles as `func(*args)`: what a file saved elsewhere holds, or a payload."""

  def __init__(self, func, *args):
    self.func, self.args = func, args

  def __reduce__(self):
    return self.func, self.args


def test_args_namespace_with_paths_loads_without_trust(tmp_path):
  model = _random_model(seed=8)
  args = argparse.Namespace(**CONFIG, data=pathlib.Path('/data/shakespeare.txt'),
                            out=pathlib.PurePosixPath('runs/a'),
                            saved_on_windows=_PickledAs(pathlib.WindowsPath, 'C:/runs/b.pth'))
  path = tmp_path / 'args.pth'
  torch.save({'model_state_dict': model.state_dict(), 'args': args, 'itos': ITOS}, path)
  state, config, itos = itc.load_original(str(path))
  left = torch.serialization.get_safe_globals()
  assert not [g for g in itc.SAFE_GLOBALS if g in left]  # Allowed for that load only.
  # Paths come back pure: no file access, and a WindowsPath loads on any system.
  assert config == {**CONFIG, 'data': pathlib.PurePosixPath('/data/shakespeare.txt'),
                    'out': pathlib.PurePosixPath('runs/a'),
                    'saved_on_windows': pathlib.PureWindowsPath('C:/runs/b.pth')}
  assert itos == ITOS
  cfg = itc.model_config_from_original(config, state)
  np.testing.assert_allclose(_flax_logits(itc.convert_params(state, cfg), cfg, _tokens()),
                             _torch_logits(model, _tokens()), atol=LOGIT_ATOL, rtol=0)


def _payload_checkpoint(tmp_path: pathlib.Path, zip_format: bool = True
                        ) -> tuple[pathlib.Path, pathlib.Path]:
  """An original checkpoint plus an entry whose unpickling creates `marker`."""
  path, marker = tmp_path / 'payload.pth', tmp_path / 'marker'
  ref.save_original_checkpoint(path, _random_model(seed=9), CONFIG, ITOS)
  obj = torch.load(path, weights_only=True)
  torch.save({**obj, 'note': _PickledAs(pathlib.Path.touch, marker)}, path,
             _use_new_zipfile_serialization=zip_format)
  return path, marker


@pytest.mark.parametrize('zip_format', [True, False])  # False: torch < 1.6's format.
def test_code_in_the_pickle_runs_only_with_trust_pickle(tmp_path, zip_format):
  path, marker = _payload_checkpoint(tmp_path, zip_format)
  with pytest.raises(errors.CheckpointError) as refused:
    itc.convert_checkpoint(str(path))
  message = str(refused.value)
  assert '\n' not in message and 'getattr' in message and '--trust_pickle' in message
  assert not marker.exists()
  converted = itc.convert_checkpoint(str(path), trust_pickle=True)
  assert marker.exists()  # The file's code ran: the flag is what changed.
  assert converted.vocab_chars == ''.join(ITOS)


@pytest.fixture
def drive(tmp_path):
  yield from entry_point_driver.driver(tmp_path / 'driver_stderr.txt')


def test_script_refuses_code_in_the_pickle_in_one_line(tmp_path, drive):
  path, marker = _payload_checkpoint(tmp_path)
  workdir = tmp_path / 'imported'
  [refused] = drive('scripts.import_torch_checkpoint', [[f'--pth={path}', f'--workdir={workdir}']])
  entry_point_driver.assert_one_line_error(refused, '--trust_pickle')
  assert 'builtins.getattr' in refused['stderr']
  assert not marker.exists() and not workdir.exists()
  [trusted] = drive('scripts.import_torch_checkpoint',
                    [[f'--pth={path}', '--dry_run', '--trust_pickle']])
  assert trusted['code'] in (None, 0) and not trusted['traceback'], trusted
  assert marker.exists() and 'Dry run: nothing written.' in trusted['stdout']


@pytest.mark.slow
def test_script_imports_a_checkpoint_that_eval_loads(tmp_path):
  checkpoints = pytest.importorskip('landauerjax.checkpoints')
  path, workdir = tmp_path / 'orig.pth', tmp_path / 'imported'
  ref.save_original_checkpoint(path, _random_model(seed=7), CONFIG, ITOS)
  result = subprocess.run(
      [sys.executable, '-m', 'scripts.import_torch_checkpoint', f'--pth={path}',
       f'--workdir={workdir}'], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
      check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Max |flax - NumPy reference| logit difference' in result.stdout
  assert checkpoints.load_for_inference(str(workdir)).vocab.chars == ''.join(ITOS)
