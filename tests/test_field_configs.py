"""The field LM's config files and fieldjax.train.train_and_evaluate, in-process."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from experiments.configs import field_base
from experiments.configs import field_best
from experiments.configs import field_large
from experiments.configs import field_small
from experiments.configs import field_tiny
from field_fixtures import shrunk_config
from fieldjax import model
from fieldjax import config_schema as field_schema
from fieldjax import train
from landauerjax.core import errors


@pytest.mark.parametrize('module,size', [(field_tiny, 'tiny'), (field_small, 'small'),
                                         (field_base, 'base'), (field_large, 'large')])
def test_each_config_is_its_named_size(module, size):
  config = module.get_config()
  cfg = field_schema.model_config_from(config.model, 8192)
  assert cfg == model.config_for_size(size, 8192)  # Same dims, every other field default.
  field_schema.train_config_from(config)  # Valid settings.


def test_field_best_is_tiny_with_sparse_sites():
  config = field_best.get_config()
  cfg = field_schema.model_config_from(config.model, 65)
  assert cfg.sites.enabled and cfg.sites.num_sites == 2**21 and cfg.sites.orders == tuple(range(1, 9))
  tiny = field_schema.model_config_from(field_tiny.get_config().model, 65)
  assert (cfg.embed_dim, cfg.lags, cfg.lattice_dim, cfg.field) == (
      tiny.embed_dim, tiny.lags, tiny.lattice_dim, tiny.field)
  assert field_schema.train_config_from(config).num_steps == 400
  with pytest.raises(errors.ConfigError, match=r"config.model.sites keys \['bits'\].*table_bits"):
    field_schema.model_config_from({**config.model.to_dict(), 'sites': {'bits': 3}}, 65)
  with pytest.raises(errors.ConfigError, match='orders'):
    field_schema.model_config_from({**config.model.to_dict(), 'sites': {'table_bits': 3, 'orders': ()}},
                            65)


LATER_KEYS = ('model.collapse.rule', 'model.lattice_rule', 'model.lattice_rate',
              'model.lattice_winners', 'model.recall.softening', 'model.recall.trace_scales',
              'model.recall.rate', 'model.recall.floor', 'model.recall.buckets', 'model.recall.dt',
              'train.eval_seq_len', 'train.profile_steps')


@pytest.mark.parametrize('before', ['sites', 'collapse_lattice_recall'])
def test_runs_recorded_before_later_keys_still_resume(before):
  """A run record without the sparse crystal's keys (or without the collapse and lattice
  rules) compares equal to one with them at their defaults; a changed one still differs."""
  from landauerjax.core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  cfg = field_schema.model_config_from(field_tiny.get_config().model, 65)
  now = workdir_lib.run_record(
      {'model': cfg.to_json(), 'train': dataclasses.asdict(field_schema.TrainConfig())}, 'data')
  if before == 'sites':
    dropped = lambda k: (k.startswith('model.sites.') or k == 'model.field.trace_scales'
                         or k in LATER_KEYS)
  else:
    dropped = lambda k: k in LATER_KEYS
  old = {'config': {k: v for k, v in now['config'].items() if not dropped(k)},
         'data_fingerprint': 'data'}
  assert workdir_lib.changed_keys(old['config'], now['config'])  # Would be refused as is.
  assert not workdir_lib.changed_keys(field_schema.with_later_defaults(old)['config'], now['config'])
  instar = workdir_lib.run_record(
      {'model': dataclasses.replace(cfg, lattice_rule='instar').to_json(),
       'train': dataclasses.asdict(field_schema.TrainConfig())}, 'data')
  assert workdir_lib.changed_keys(field_schema.with_later_defaults(old)['config'],
                                  instar['config']) == [('model.lattice_rule', 'fixed', 'instar')]
  old_json = {k: v for k, v in cfg.to_json().items()
              if k not in ('sites', 'lattice_rule', 'recall')}
  old_json['collapse'] = {k: v for k, v in old_json['collapse'].items() if k != 'rule'}
  assert model.ModelConfig.from_json(old_json) == cfg


def test_unknown_and_bad_model_keys_are_named_with_the_known_ones():
  config = field_tiny.get_config().to_dict()
  with pytest.raises(errors.ConfigError, match=r"Unknown config.model keys \['sparkle'\]"):
    field_schema.model_config_from({**config['model'], 'sparkle': 1}, 10)
  with pytest.raises(errors.ConfigError, match=r"config.model.field keys \['warp'\].*gravity"):
    field_schema.model_config_from({**config['model'], 'field': {'warp': 1}}, 10)
  with pytest.raises(errors.ConfigError, match="Unknown embedding 'spiral'"):
    field_schema.model_config_from({**config['model'], 'embedding': 'spiral'}, 10)


def test_the_schedule_is_a_dict_of_steps():
  config = field_tiny.get_config()
  config.train.perturbation_schedule = {0: 'beta', 1000: 'adaptive'}
  assert field_schema.train_config_from(config).perturbation_schedule == (
      (0, 'beta'), (1000, 'adaptive'))
  # Every spelling is parsed by the one parser into the same setting.
  for spelling in ('{"0": "beta", "1000": "adaptive"}', {'1000': 'adaptive', '0': 'beta'},
                   [[0, 'beta'], [1000, 'adaptive']]):
    assert field_schema.TrainConfig(perturbation_schedule=spelling).perturbation_schedule == (
        (0, 'beta'), (1000, 'adaptive'))
  config.train.perturbation_schedule = {0: 'gauss'}
  with pytest.raises(errors.ConfigError, match="'gauss'"):
    field_schema.train_config_from(config)


def test_train_and_evaluate_trains_resumes_and_records(small_corpus_path, data_dir, tmp_path):
  tiny = lambda num_steps=4: shrunk_config(field_tiny.get_config(), small_corpus_path,
                                          data_dir, num_steps)
  whole = train.train_and_evaluate(tiny(), str(tmp_path / 'a'))
  assert whole['step'] == 4 and whole['tokenizer'] == 'char' and whole['tokens_train'] > 0
  assert whole['final']['val_ce'] > 0
  split = str(tmp_path / 'b')
  train.train_and_evaluate(tiny(2), split)
  resumed = train.train_and_evaluate(tiny(), split)
  assert resumed['final'] == whole['final']  # Batches are a pure function of the step.

  def lines(workdir):
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      return [{k: v for k, v in json.loads(l).items() if k != 'tokens_per_sec'} for l in f]
  assert lines(split) == lines(str(tmp_path / 'a'))
  other = tiny(6)
  other.model.hebbian_rule = 'plain'
  with pytest.raises(errors.WorkdirError, match='model.hebbian_rule'):
    train.train_and_evaluate(other, split)


@pytest.mark.parametrize('seq_len,eval_seq_len,expected', [(128, 0, 64), (32, 0, 16),
                                                          (128, 1024, 512), (1, 0, 1)])
def test_stride_zero_is_half_the_validation_window(seq_len, eval_seq_len, expected):
  """A shorter --config.train.seq_len needs no matching eval.stride (it once failed the
  stride check while the --seq_len shorthand set both)."""
  config = field_tiny.get_config()
  config.train.seq_len, config.eval.seq_len = seq_len, eval_seq_len
  settings = field_schema.train_config_from(config)
  assert settings.eval_stride == 0 and settings.validation_stride == expected
  # As a run record compares it, 0 is the stride it stands for: a run recorded with the
  # explicit half window (as field_tiny.py wrote it before) resumes with 0, and back.
  explicit = dataclasses.replace(settings, eval_stride=expected)
  assert settings.run_record() == explicit.run_record()
  with pytest.raises(errors.ConfigError, match='eval_stride'):
    dataclasses.replace(settings, eval_stride=settings.eval_window + 1)
  with pytest.raises(errors.ConfigError, match='eval_stride must be an integer >= 0'):
    dataclasses.replace(settings, eval_stride=-1)
