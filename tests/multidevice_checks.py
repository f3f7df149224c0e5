"""Both trainers on a mesh of fake CPU devices: run by tests/test_core_sharding.py in a
process started with XLA_FLAGS=--xla_force_host_platform_device_count=8.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/multidevice_checks.py DIR

For each model, tiny configs trained for a few steps with the same seed on
meshes of 1, 2 and 8 devices (and data=4 x model=2 for the field LM), and
checkpoints saved on one mesh resumed on another. Prints one JSON object:
{model: {run name: [train_loss per step], ...}}; the test compares them.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

import jax

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / 'tests'))

from conftest import small_corpus  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.configs import field_tiny  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.configs import landauer_original  # pylint: disable=g-import-not-at-top,wrong-import-position
from fieldjax import config_schema as field_schema  # pylint: disable=g-import-not-at-top,wrong-import-position
from fieldjax import hebbian  # pylint: disable=g-import-not-at-top,wrong-import-position
from fieldjax import train as field_train  # pylint: disable=g-import-not-at-top,wrong-import-position
from landauerjax import config_schema as landauer_schema  # pylint: disable=g-import-not-at-top,wrong-import-position
from landauerjax import train as landauer_train  # pylint: disable=g-import-not-at-top,wrong-import-position
from landauerjax.core import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from landauerjax.core import sharding  # pylint: disable=g-import-not-at-top,wrong-import-position

NUM_STEPS = 4


def landauer_config(corpus: str, data_dir: str, num_steps: int = NUM_STEPS):
  config = landauer_original.get_config()
  config.log_every = 1
  config.data.dataset, config.data.local_path, config.data.data_dir = 'local_text', corpus, data_dir
  config.model.embed_dim = config.model.hidden_dim = 16
  config.train.batch_size, config.train.seq_len, config.train.num_steps = 8, 16, num_steps
  config.eval.every = config.checkpoint.every = 2
  config.eval.window, config.eval.num_streams = 16, 8
  return config


def field_config(corpus: str, data_dir: str, num_steps: int = NUM_STEPS):
  config = field_tiny.get_config()
  config.log_every = 1
  config.data.dataset, config.data.local_path, config.data.data_dir = 'local_text', corpus, data_dir
  config.model.embed_dim, config.model.lags, config.model.lattice_dim = 8, 3, 32
  config.model.field.chunk = config.model.field.window = 8
  config.train.num_steps, config.train.batch_size, config.train.seq_len = num_steps, 8, 16
  config.train.perturbation_schedule = {0: 'beta', 2: 'levy'}
  config.eval.every = config.checkpoint.every = 2
  config.eval.stride, config.eval.max_tokens = 8, 128
  return config


def losses(workdir: str) -> list[float]:
  return [r['train_loss'] for r in metrics.read_metrics(metrics.metrics_path(workdir))]


def main(root: str) -> None:
  assert jax.device_count() == 8, jax.devices()
  corpus = os.path.join(root, 'corpus.txt')
  with open(corpus, 'w') as f:
    f.write(small_corpus())
  data_dir = os.path.join(root, 'tfds')
  mesh = lambda n, model=1: sharding.make_mesh(model, jax.devices()[:n])
  results: dict[str, dict[str, list[float]]] = {}
  for name, make_config, train in (
      ('landauer', landauer_config, landauer_train.train_and_evaluate),
      ('field', field_config, field_train.train_and_evaluate)):
    out = results[name] = {}
    run = lambda tag, **kw: os.path.join(root, f'{name}_{tag}')
    for devices in (1, 2, 8):
      train(make_config(corpus, data_dir), run(devices), mesh=mesh(devices))
      out[f'{devices}'] = losses(run(devices))
    if name == 'field':  # The lattice and crystal split over a model axis of 2.
      train(make_config(corpus, data_dir), run('4x2'), mesh=mesh(8, model=2))
      out['4x2'] = losses(run('4x2'))
    # Saved on 8 devices at step 2, resumed on 1; saved on 1, resumed on 2 and then on 8.
    for tag, first, then in (('8to1', 8, [1]), ('1to2to8', 1, [2, 8])):
      train(make_config(corpus, data_dir, num_steps=2), run(tag), mesh=mesh(first))
      for i, devices in enumerate(then):
        steps = NUM_STEPS if i == len(then) - 1 else 3
        train(make_config(corpus, data_dir, num_steps=steps), run(tag), mesh=mesh(devices))
      out[tag] = losses(run(tag))
  results['all_reduce'] = all_reduces(corpus, data_dir, mesh(8))
  print(json.dumps(results))


def all_reduces(corpus: str, data_dir: str, mesh8) -> dict[str, bool]:
  """Whether each compiled 8-device train step all-reduces (the batch really is split)."""
  from landauerjax import input_pipeline, models  # pylint: disable=g-import-not-at-top
  from fieldjax import model as field_model  # pylint: disable=g-import-not-at-top
  from fieldjax import perturbations as field_perturbations  # pylint: disable=g-import-not-at-top
  config = landauer_config(corpus, data_dir)
  corpus_arrays = input_pipeline.load_corpus(config.data)
  model_config = landauer_schema.model_config_from(config.model, corpus_arrays.vocab.size)
  optimizer = landauer_train.make_optimizer(config.train)
  state = sharding.put_replicated(
      landauer_train.init_train_state(model_config, optimizer, 0), mesh8)
  tokens = sharding.put_replicated(jax.numpy.asarray(corpus_arrays.train), mesh8)
  step = landauer_train.make_train_step(config, models.LandauerLM(model_config), optimizer, mesh8)
  landauer_hlo = step.lower(state, tokens).compile().as_text()
  fconfig = field_config(corpus, data_dir)
  cfg = field_schema.model_config_from(fconfig.model, corpus_arrays.vocab.size)
  train_cfg = field_schema.train_config_from(fconfig)
  params = jax.device_put(field_model.init_params(cfg, jax.random.PRNGKey(0)),
                          field_model.param_shardings(mesh8, cfg))
  schedule = field_perturbations.parse_schedule(train_cfg.perturbation_schedule)
  field_step = hebbian._compiled(cfg, train_cfg.seed, schedule, train_cfg.batch_size,  # pylint: disable=protected-access
                                     train_cfg.seq_len, mesh8)
  field_hlo = field_step.lower(params, tokens, jax.numpy.int32(1)).compile().as_text()
  return {'landauer': 'all-reduce' in landauer_hlo, 'field': 'all-reduce' in field_hlo}


if __name__ == '__main__':
  main(sys.argv[1])
