"""fieldjax.ablation: a study's run plan, its commands, and the table of finished runs, on
field_best.py's ABLATIONS (scripts/field_best_results.py's rows)."""

from __future__ import annotations

import ast
import json
import os

import pytest

from experiments.configs import field_best
from fieldjax import ablation
from fieldjax import config_schema as field_schema

RUNS = field_best.ABLATIONS


def test_every_run_is_a_valid_config():
  """Each row's overrides apply to field_best.py and give a valid model and TrainConfig;
  each row's reference is a row (or none, for `best`)."""
  for name, run in RUNS.items():
    assert run.reference in RUNS or (name == 'best' and not run.reference)
    config = field_best.get_config()
    for override in run.overrides:
      key, value = override.split('=', 1)
      node = config
      *path, leaf = key.split('.')
      for part in path:
        node = node[part]
      node[leaf] = _parse(value, node[leaf])
    cfg = field_schema.model_config_from(config.model, 65)
    train_cfg = field_schema.train_config_from(config)
    if name == 'field_off':
      assert cfg.field.num_steps == 0 and cfg.recall.dt > 0  # Charges off with the evolution.
    if name == 'gravity_off':
      assert cfg.field.gravity == 0 and cfg.field.num_steps > 0
    if name == 'sites_off':
      assert not cfg.sites.enabled
    if run.reference == 'sites_only' or name == 'sites_only':  # The previous field_best.
      assert not cfg.recall.enabled and train_cfg.eval_window == train_cfg.seq_len
  best = field_schema.model_config_from(field_best.get_config().model, 65)
  assert best.recall.enabled and best.field.num_steps > 0


def _parse(value: str, like):
  """VALUE of --config.KEY=VALUE as the type of the config's current value."""
  if isinstance(like, str):
    return value
  parsed = ast.literal_eval(value)
  return parsed if isinstance(like, (dict, tuple)) else type(like)(parsed)


def test_plan_and_commands():
  plan = ablation.planned_runs(RUNS, [0, 1, 2], ['best', 'field_off'])
  assert plan[:6] == [('best', 0), ('best', 1), ('best', 2), ('field_off', 0),
                      ('field_off', 1), ('field_off', 2)]
  assert len(plan) == 6 + len(RUNS) - 2
  line = ablation.train_command('experiments/configs/field_best.py', '/r/levy_s1', [
      'seed=1', 'data.local_path=x.txt', *RUNS['levy'].overrides, 'train.num_steps=5'])
  assert line.startswith('python -m experiments.field train --config=experiments/configs/'
                         'field_best.py --workdir=/r/levy_s1 --config.seed=1')
  assert "'--config.train.perturbation_schedule={0:'\"'\"'levy'\"'\"'}'" in line
  assert line.endswith('--config.train.num_steps=5')


def _fake_run(root, name, seed, ce):
  workdir = os.path.join(root, f'{name}_s{seed}')
  os.makedirs(workdir)
  with open(os.path.join(workdir, 'run.json'), 'w') as f:
    json.dump({'final': {'val_ce': ce}, 'wall_seconds': 10.0, 'params': 3}, f)
  with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
    f.write(json.dumps({'step': 1, 'train_loss': 3.0}) + '\n')
    f.write(json.dumps({'step': 2, 'train_loss': 2.0, 'val_ce': ce}) + '\n')
  return workdir


def test_table_pairs_seeds_with_the_reference(tmp_path):
  runs = {'best': {0: 1.50, 1: 1.52}, 'field_off': {0: 1.53, 1: 1.56},
          'sites_only': {0: 1.55, 1: 1.57}, 'levy': {1: 1.60}}
  found = {name: {s: ablation.read_run(_fake_run(str(tmp_path), name, s, ce))
                  for s, ce in by_seed.items()} for name, by_seed in runs.items()}
  assert found['best'][0]['curve'] == {2: 1.50}
  text = ablation.paired_table(RUNS, found)
  assert '| best | field_best.py as it is | 2 | 1.5100 ± 0.0141 |  | 10 |' in text
  assert '| 2 | 1.5450 ± 0.0212 | +0.0350 ± 0.0071 (best) | 10 |' in text  # 0.03, 0.04.
  assert '| 1 | 1.6000 | +0.0300 (sites_only) | 10 |' in text  # Seed 1 with seed 1.
  assert ablation.read_run(str(tmp_path / 'absent')) is None


def test_plot_writes_a_png(tmp_path):
  pytest.importorskip('matplotlib')
  run = ablation.read_run(_fake_run(str(tmp_path), 'best', 0, 1.5))
  ablation.plot_curves(RUNS, {'best': {0: run}, 'field_off': {}}, str(tmp_path / 'c.png'),
                       panels=(('best', 'best'), ('sites_only', 'sites_only')),
                       levels=((2.0, 'a level', '--'),))
  assert (tmp_path / 'c.png').stat().st_size > 1000


def test_earlier_runs_fill_the_missing_ones_and_are_marked(tmp_path):
  run = ablation.read_run(_fake_run(str(tmp_path), 'levy', 0, 1.6))
  saved = tmp_path / 'earlier.json'
  saved.write_text(json.dumps({'levy': {'0': run}, 'sites_only': {'0': {
      'val_ce': 1.55, 'wall_s': 9.0, 'params': 3, 'curve': {'2': 1.55}}}}))
  earlier = ablation.read_earlier(str(saved))
  assert earlier['sites_only'][0]['curve'] == {2: 1.55} and earlier['levy'][0]['earlier']
  assert earlier['levy'][0]['source'] == f'{saved}: {tmp_path / "levy_s0"}'
  fresh = ablation.read_run(_fake_run(str(tmp_path), 'best', 0, 1.5))
  text = ablation.paired_table(RUNS, {'best': {0: fresh}, **earlier})
  assert '| best | field_best.py as it is | 1 |' in text
  assert '| levy (earlier) | Levy' in text and '| +0.0500 (sites_only) |' in text
  assert earlier['sites_only'][0]['source'] == str(saved)  # No run source recorded there.
  saved.write_text(json.dumps({'levy': {'0': earlier['levy'][0]}}))  # Read again: as it was.
  assert ablation.read_earlier(str(saved))['levy'][0]['source'] == earlier['levy'][0]['source']
  mixed = ablation.paired_table(RUNS, {'best': {0: fresh, 1: {**fresh, 'earlier': True}}})
  assert '| best (earlier: 1/2 seeds) |' in mixed
