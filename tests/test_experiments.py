"""End-to-end tests of the entry points: train -> eval -> generate, and bad input."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from test_checkpoints import flip_bytes_in_data

# The entry points end to end in subprocesses: the slow CI step (pytest -m slow).
pytestmark = pytest.mark.slow

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PROMPT = 'First Citizen:\n'
TINY_FLAGS = (
    '--config.model.embed_dim=8', '--config.model.hidden_dim=8',
    '--config.train.batch_size=2', '--config.train.seq_len=8',
    '--config.train.num_steps=4', '--config.log_every=1',
    '--config.eval.every=2', '--config.eval.window=8', '--config.eval.num_streams=4',
    '--config.checkpoint.every=2')


def _run(module, *args):
  """Runs `python -m experiments.<module> args` from the repo root."""
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-m', f'experiments.{module}', *args],
                        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                        timeout=300, check=False)


def _train_args(workdir, data_path, data_dir, *extra):
  return ('--config=experiments/configs/landauer_original.py', f'--workdir={workdir}',
          '--config.data.dataset=local_text', f'--config.data.local_path={data_path}',
          f'--config.data.data_dir={data_dir}', *TINY_FLAGS, *extra)


@pytest.fixture(scope='module')
def slice_path(shakespeare_path, tmp_path_factory):
  """The first 20,000 characters of Tiny Shakespeare."""
  with open(shakespeare_path, encoding='utf-8') as f:
    text = f.read(20_000)
  path = tmp_path_factory.mktemp('slice') / 'shakespeare_20k.txt'
  path.write_text(text, encoding='utf-8')
  return str(path)


@pytest.fixture(scope='module')
def trained(slice_path, data_dir, tmp_path_factory):
  """A workdir after `train_landauer` ran 4 tiny steps on the slice."""
  workdir = str(tmp_path_factory.mktemp('trained'))
  result = _run('train_landauer', *_train_args(workdir, slice_path, data_dir))
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


def test_train_writes_metrics_and_checkpoints(trained):
  with open(os.path.join(trained, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  assert [r['step'] for r in records if 'train_loss' in r] == [1, 2, 3, 4]
  assert [r['step'] for r in records if 'val_ce' in r] == [2, 4]
  assert sorted(os.listdir(os.path.join(trained, 'checkpoints'))) == ['2', '4']
  assert os.path.isfile(os.path.join(trained, 'config.json'))


def test_eval_prints_one_json_line(trained):
  result = _run('eval_landauer', f'--workdir={trained}', '--config.eval.num_streams=4',
                '--config.eval.window=8')
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 1, result.stdout
  record = json.loads(lines[0])
  assert record['chars'] == 20_000 - int(20_000 * 0.9) - 1
  assert record['step'] == 4 and record['variant'] == 'original'
  assert record['val_bpc'] == pytest.approx(record['val_ce'] / 0.6931471805599453)
  # The same protocol as the training run's last evaluation gives its number.
  with open(os.path.join(trained, 'metrics.jsonl')) as f:
    last_eval = [json.loads(line) for line in f if 'val_ce' in line][-1]
  assert record['val_ce'] == pytest.approx(last_eval['val_ce'], rel=1e-6)


def test_generate_prints_prompt_and_continuation(trained):
  result = _run('generate_landauer', f'--workdir={trained}', f'--prompt={PROMPT}',
                '--max_new_tokens=37', '--chunk=16', '--seed=3')
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.startswith(PROMPT)
  assert result.stdout.endswith('\n')
  assert len(result.stdout[len(PROMPT):-1]) == 37
  with open(os.path.join(trained, 'config.json')) as f:
    vocab = json.load(f)['vocab']['chars']
  assert set(result.stdout[len(PROMPT):-1]) <= set(vocab)


def test_eval_falls_back_from_a_corrupt_checkpoint_in_one_line(trained, tmp_path):
  workdir = str(tmp_path / 'corrupt')
  shutil.copytree(trained, workdir)
  flip_bytes_in_data(os.path.join(workdir, 'checkpoints', '4'))
  result = _run('eval_landauer', f'--workdir={workdir}', '--config.eval.num_streams=4',
                '--config.eval.window=8')
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout)['step'] == 2
  warning = [l for l in result.stderr.splitlines() if 'unusable' in l]
  assert len(warning) == 1 and 'checkpoint step 4 is unusable' in warning[0]
  assert 'falling back to step 2' in warning[0] and 'sha256' in warning[0]
  flip_bytes_in_data(os.path.join(workdir, 'checkpoints', '2'))
  result = _run('eval_landauer', f'--workdir={workdir}')
  assert result.returncode == 2
  assert result.stderr.splitlines()[-1].startswith('error: No checkpoint in')
  assert 'Traceback' not in result.stderr
