"""Plain exports (landauerjax.core.exports, the models' export / load_export, experiments.export):
an export loads back to the parameters the checkpoint holds, bit for bit, so the same pure
functions give the same logits; its safetensors file reads with plain safetensors; a damaged
export is refused in one line; a mistake on the command line is one line and writes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import jax
import numpy as np
import pytest
from safetensors import numpy as st_numpy

from entry_point_driver import assert_one_line_error
import entry_point_driver
from fieldjax import checkpoints as field_checkpoints
from fieldjax import model as field_model
from landauerjax import checkpoints
from landauerjax import models
from landauerjax.core import errors
from landauerjax.core import exports

# The Landauer LM's logits, and the field LM's log-probabilities: one compile per shape.
landauer_logits = jax.jit(
    lambda params, tokens_BxT, cfg: models.LandauerLM(cfg).apply(
        {'params': params}, tokens_BxT, models.initial_state(cfg, tokens_BxT.shape[0]))[0],
    static_argnums=2)
field_log_probs = jax.jit(field_model.log_probs, static_argnames=('cfg',))


@pytest.fixture(scope='module')
def landauer_export(landauer_run, tmp_path_factory):
  """(the checkpoint's Inference bundle, the directory of its export)."""
  loaded = checkpoints.load_for_inference(landauer_run[0])
  output = str(tmp_path_factory.mktemp('exports') / 'landauer')
  assert checkpoints.export(loaded, output, source=landauer_run[0]) == output
  return loaded, output


@pytest.fixture(scope='module')
def field_export(field_workdir, tmp_path_factory):
  """(what fieldjax.checkpoints.load returns, the directory of its export)."""
  loaded = field_checkpoints.load(field_workdir)
  output = str(tmp_path_factory.mktemp('exports') / 'field')
  assert field_checkpoints.export(loaded, output, source=field_workdir) == output
  return loaded, output


def _assert_same_params(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _tokens(vocab_size, batch=2, length=16):
  return np.random.default_rng(0).integers(0, vocab_size, (batch, length)).astype(np.int32)


def test_landauer_export_gives_the_same_logits(landauer_export):
  loaded, output = landauer_export
  back = checkpoints.load_export(output)
  assert isinstance(back, checkpoints.Inference)
  assert (back.model_config, back.vocab, back.step, back.config) == (
      loaded.model_config, loaded.vocab, loaded.step, loaded.config)
  _assert_same_params(back.params, loaded.params)
  tokens = _tokens(loaded.model_config.vocab_size)
  # The same float32 bytes through the same compiled program: equal to the bit.
  np.testing.assert_array_equal(
      np.asarray(landauer_logits(back.params, tokens, back.model_config)),
      np.asarray(landauer_logits(loaded.params, tokens, loaded.model_config)))


def test_field_export_gives_the_same_log_probs(field_export):
  (step, params, cfg, meta), output = field_export
  back_step, back_params, back_cfg, back_meta = field_checkpoints.load_export(output)
  assert (back_step, back_cfg) == (step, cfg)
  assert back_meta['tokenizer'] == meta['tokenizer']
  assert field_checkpoints.validation_window(back_meta) == field_checkpoints.validation_window(meta)
  _assert_same_params(back_params, params)
  tokens = _tokens(cfg.vocab_size)
  np.testing.assert_array_equal(np.asarray(field_log_probs(back_params, tokens, cfg=back_cfg)),
                                np.asarray(field_log_probs(params, tokens, cfg=cfg)))


def test_the_files_read_without_this_library(landauer_export, field_export):
  """model.safetensors with plain safetensors, under the documented key names;
  config.json with plain json, its sha256 that of the file."""
  loaded, output = landauer_export
  arrays = st_numpy.load_file(os.path.join(output, 'model.safetensors'))
  assert set(arrays) == {'embed/embedding', 'head/kernel', 'head/bias'} | {
      f'layer_{l}/{name}' for l in (0, 1)
      for name in ('input_proj/kernel', 'input_proj/bias', 'scale')}
  np.testing.assert_array_equal(arrays['layer_1/input_proj/kernel'],
                                np.asarray(loaded.params['layer_1']['input_proj']['kernel']))
  assert all(a.dtype == np.float32 for a in arrays.values())
  with open(os.path.join(output, 'config.json')) as f:
    config = json.load(f)
  with open(os.path.join(output, 'model.safetensors'), 'rb') as f:
    assert config['safetensors_sha256'] == hashlib.sha256(f.read()).hexdigest()
  assert config['format'] == 1 and config['family'] == 'landauer'
  assert config['vocab'] == {'kind': 'char', 'chars': loaded.vocab.chars}
  assert config['model']['hidden_dim'] == loaded.model_config.hidden_dim
  assert config['step'] == 6 and config['source'] and config['config']['seed'] == 0
  assert sorted(os.listdir(output)) == ['config.json', 'model.safetensors']
  modes = {os.stat(os.path.join(output, name)).st_mode for name in os.listdir(output)}
  assert len(modes) == 1  # Both as the umask says (safetensors alone writes 0600).
  assert sorted(os.listdir(os.path.dirname(output))) == ['landauer']  # No partial dir left.

  (_, params, _, meta), output = field_export
  arrays = st_numpy.load_file(os.path.join(output, 'model.safetensors'))
  assert set(arrays) == {'lattice', 'lattice_bias', 'crystal', 'counts'}
  np.testing.assert_array_equal(arrays['crystal'], np.asarray(params['crystal']))
  with open(os.path.join(output, 'config.json')) as f:
    config = json.load(f)
  assert config['family'] == 'field' and config['vocab'] == meta['tokenizer']
  assert config['train']['seq_len'] == 8


def _copy(directory, tmp_path, name='copy'):
  target = str(tmp_path / name)
  shutil.copytree(directory, target)
  return target


def _rewrite_config(directory, change):
  path = os.path.join(directory, 'config.json')
  with open(path) as f:
    config = json.load(f)
  change(config)
  with open(path, 'w') as f:
    json.dump(config, f)


def _replace_weights(directory, arrays):
  """A valid safetensors file with other contents, its sha256 recorded: only the other
  checks can catch it."""
  path = os.path.join(directory, 'model.safetensors')
  st_numpy.save_file(arrays, path)
  digest = hashlib.sha256(open(path, 'rb').read()).hexdigest()
  _rewrite_config(directory, lambda c: c.update(safetensors_sha256=digest))


def test_a_damaged_export_is_refused_in_one_line(landauer_export, field_export, tmp_path):
  loaded, output = landauer_export
  weights = lambda d: os.path.join(d, 'model.safetensors')

  def flipped(d):
    data = bytearray(open(weights(d), 'rb').read())
    data[len(data) // 2] ^= 0xFF
    open(weights(d), 'wb').write(data)

  def nan(d):
    arrays = st_numpy.load_file(weights(d))
    arrays['head/bias'][0] = np.nan
    _replace_weights(d, arrays)

  def missing_leaf(d):
    arrays = st_numpy.load_file(weights(d))
    del arrays['layer_0/scale']
    _replace_weights(d, arrays)

  damages = [
      (flipped, 'does not match the sha256 in config.json (corrupt)'),
      (lambda d: os.remove(weights(d)), 'No model.safetensors in'),
      (lambda d: open(os.path.join(d, 'config.json'), 'w').write('{"format": 1,'),
       'is not readable JSON'),
      (lambda d: _rewrite_config(d, lambda c: c.update(format=7)), 'not an export of format 1'),
      (lambda d: _rewrite_config(d, lambda c: c['model'].update(hidden_dim=9)),
       'does not hold the parameters of its model config (head/kernel: float32[8, 18] in the '
       'file, float32[9, 18] for the model config'),
      (lambda d: _rewrite_config(d, lambda c: c['model'].update(variant='sparkly')),
       "cannot be read by this version (Unknown model variant 'sparkly'"),
      (nan, 'holds non-finite values (head/bias)'),
      (missing_leaf, 'layer_0/scale: absent in the file, float32[8] for the model config'),
  ]
  for i, (damage, message) in enumerate(damages):
    copy = _copy(output, tmp_path, f'damaged_{i}')
    damage(copy)
    with pytest.raises(errors.CheckpointError) as info:
      checkpoints.load_export(copy)
    assert message in str(info.value) and '\n' not in str(info.value)
  # Each model's loader names the other's for the other's export.
  with pytest.raises(errors.CheckpointError, match='fieldjax.checkpoints.load_export'):
    checkpoints.load_export(field_export[1])
  with pytest.raises(errors.CheckpointError, match='landauerjax.checkpoints.load_export'):
    field_checkpoints.load_export(output)
  with pytest.raises(errors.CheckpointError, match='No config.json in'):
    field_checkpoints.load_export(str(tmp_path / 'nothing_here'))


def test_write_refuses_before_writing_and_leaves_nothing_half_written(tmp_path, monkeypatch):
  params = {'a': {'b': np.arange(6, dtype=np.float32).reshape(2, 3)}, 'c': np.ones(2, np.int32)}
  meta = {'family': 'field', 'model': {}, 'vocab': {'kind': 'byte'}}
  full = tmp_path / 'full'
  full.mkdir()
  (full / 'keep.txt').write_text('mine')
  with pytest.raises(errors.ConfigError, match='already exists and is not empty: pick another'):
    exports.write(str(full), params, meta)
  assert os.listdir(full) == ['keep.txt']
  with pytest.raises(errors.ConfigError, match='is not a directory'):
    exports.write(str(full / 'keep.txt'), params, meta)
  with pytest.raises(errors.CheckpointError, match=r'non-finite parameters \(a/b\)'):
    exports.write(str(tmp_path / 'nan'), {'a': {'b': np.full(2, np.inf, np.float32)}}, meta)
  with pytest.raises(errors.CheckpointError, match='bfloat16'):
    exports.write(str(tmp_path / 'bf16'), {'a': np.ones(2, jax.numpy.bfloat16)}, meta)

  def fail(*args, **kwargs):
    raise OSError('disk full')
  monkeypatch.setattr(st_numpy, 'save_file', fail)
  with pytest.raises(OSError, match='disk full'):
    exports.write(str(tmp_path / 'failed'), params, meta)
  monkeypatch.undo()
  assert sorted(os.listdir(tmp_path)) == ['full']  # No output, no partial directory.

  empty = tmp_path / 'empty'
  empty.mkdir()  # An empty directory is written into.
  assert exports.write(str(empty), params, meta) == str(empty)
  arrays = st_numpy.load_file(str(empty / 'model.safetensors'))
  assert set(arrays) == {'a/b', 'c'} and arrays['c'].dtype == np.int32
  like = {'a': {'b': jax.ShapeDtypeStruct((2, 3), np.float32)},
          'c': jax.ShapeDtypeStruct((2,), np.int32)}
  back, back_meta = exports.read(str(empty), 'field', lambda meta: like)
  np.testing.assert_array_equal(back['a']['b'], params['a']['b'])
  assert back_meta['vocab'] == {'kind': 'byte'} and back_meta['format'] == 1


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
  yield from entry_point_driver.driver(tmp_path_factory.mktemp('driver') / 'stderr.txt')


def _snapshot(*dirs):
  out = {}
  for directory in dirs:
    for root, _, names in os.walk(directory):
      for name in names:
        path = os.path.join(root, name)
        out[path] = hashlib.sha256(open(path, 'rb').read()).hexdigest()
  return out


def test_export_command(drive, landauer_run, field_workdir, landauer_export, field_export,
                        tmp_path):
  """Both models through `python -m experiments.export` (in one driver process): the files
  of the library's export; every mistake one line, exit 2, no file created or changed."""
  landauer_workdir = landauer_run[0]
  before = _snapshot(landauer_workdir, field_workdir)
  taken = tmp_path / 'taken'
  taken.mkdir()
  (taken / 'x').write_text('x')
  new = str(tmp_path / 'new')
  empty = tmp_path / 'no_checkpoints'
  empty.mkdir()
  cases = [
      ([f'--workdir={tmp_path / "never_trained"}', f'--output={new}'], 'No checkpoint in'),
      ([f'--workdir={empty}', f'--output={new}'], 'No checkpoint in'),
      ([f'--workdir={landauer_workdir}', f'--output={new}', '--step=4'],
       'No checkpoint of step 4'),
      ([f'--workdir={field_workdir}', f'--output={new}', '--step=5'], 'No checkpoint of step 5'),
      ([f'--workdir={landauer_workdir}', f'--output={new}', '--step=-1'], '--step'),
      ([f'--workdir={landauer_workdir}', f'--output={new}', '--step=two'], '--step'),
      ([f'--workdir={landauer_workdir}', f'--output={taken}'], 'already exists and is not empty'),
      ([f'--workdir={field_workdir}', f'--output={taken / "x"}'], 'is not a directory'),
      ([f'--workdir={landauer_workdir}',
        f'--output={os.path.join(landauer_workdir, "checkpoints", "9")}'],
       'where it would be taken for a checkpoint'),
      ([f'--workdir={landauer_workdir}'], '--output'),
      ([f'--workdir={landauer_workdir}', '--output='], '--output is empty'),
      ([f'--output={new}'], '--workdir'),
      ([f'--workdir={landauer_workdir}', f'--output={new}', '--nope=1'],
       "Unknown command line flag 'nope'"),
  ]
  exported = {name: str(tmp_path / name) for name in ('landauer', 'field', 'field_step')}
  successes = [[f'--workdir={landauer_workdir}', f'--output={exported["landauer"]}'],
               [f'--workdir={field_workdir}', f'--output={exported["field"]}'],
               [f'--workdir={field_workdir}', f'--output={exported["field_step"]}', '--step=2']]
  results = drive('export', [argv for argv, _ in cases] + successes)
  for result, (_, message) in zip(results, cases):
    assert_one_line_error(result, message)
    assert result['stdout'] == ''
  assert not os.path.exists(new) and os.listdir(taken) == ['x']
  assert _snapshot(landauer_workdir, field_workdir) == before
  for result, name, family in zip(results[len(cases):], exported, ('landauer', 'field', 'field')):
    assert result['code'] in (0, None) and not result['traceback'], result
    record = json.loads(result['stdout'].strip().splitlines()[-1])
    assert record['family'] == family and record['output'] == exported[name]
  # Byte for byte the library's export (the same parameters and JSON but for the source path).
  for (_, library), name in ((landauer_export, 'landauer'), (field_export, 'field')):
    with open(os.path.join(library, 'model.safetensors'), 'rb') as a, \
        open(os.path.join(exported[name], 'model.safetensors'), 'rb') as b:
      assert a.read() == b.read()
  assert checkpoints.load_export(exported['landauer']).step == 6
  assert field_checkpoints.load_export(exported['field_step'])[0] == 2
