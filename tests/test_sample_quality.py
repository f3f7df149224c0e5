"""scripts/sample_quality.py: samples of both models and their summary, on tiny runs."""

from __future__ import annotations

import pytest

from experiments.configs import field_best
from field_fixtures import shrunk_config
from fieldjax import train
from scripts import sample_quality


@pytest.fixture(scope='module')
def sparse_field_run(small_corpus_path, data_dir, tmp_path_factory) -> str:
  """field_best.py's parts (sparse sites, traces) at test size, trained 4 steps."""
  config = shrunk_config(field_best.get_config(), small_corpus_path, data_dir)
  config.model.field.trace_scales = 2
  config.model.sites.table_bits = 8
  config.model.sites.orders = (1, 2, 3)
  workdir = str(tmp_path_factory.mktemp('sparse_field'))
  run = train.train_and_evaluate(config, workdir)
  assert run['step'] == 4 and run['final']['val_ce'] > 0
  return workdir


def test_field_samples_with_and_without_collapse(sparse_field_run):
  samples = sample_quality.field_samples(sparse_field_run, 'th', num_chars=25, seeds=2,
                                         temperature=1.0)
  assert set(samples) == {'collapse, measurement', 'collapse, replicator', 'plain sampling'}
  assert all(len(s) == 25 for group in samples.values() for s in group)
  assert samples['plain sampling'][0] != samples['plain sampling'][1]  # Seeds differ.


def test_landauer_samples(landauer_run):
  samples = sample_quality.landauer_samples(landauer_run[0], 'th', num_chars=12, seeds=2,
                                            temperature=1.0)
  assert [len(s) for s in samples] == [12, 12]
