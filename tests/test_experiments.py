"""End-to-end tests of the entry points: train -> eval -> generate, and bad input."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from landauerjax import checkpoints

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
  return ('--config=experiments/configs/landauer_seed.py', f'--workdir={workdir}',
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
  assert record['step'] == 4 and record['variant'] == 'seed'
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


@pytest.mark.parametrize('prompt,expected', [('First~', "'~'"), ('', 'empty')])
def test_generate_rejects_bad_prompt(trained, prompt, expected):
  result = _run('generate_landauer', f'--workdir={trained}', f'--prompt={prompt}',
                '--max_new_tokens=5')
  assert result.returncode != 0
  assert expected in result.stderr
  assert result.stdout == ''


def test_missing_workdir(tmp_path):
  missing = str(tmp_path / 'never_trained')
  result = _run('eval_landauer', f'--workdir={missing}')
  assert result.returncode != 0
  assert 'No checkpoint directory' in result.stderr
  assert 'never_trained' in result.stderr


def test_corrupt_checkpoint(trained, tmp_path):
  workdir = str(tmp_path / 'corrupt')
  shutil.copytree(trained, workdir)
  state_dir = os.path.join(workdir, 'checkpoints', '4', 'state')
  garbled = 0
  for root, _, files in os.walk(state_dir):
    for name in files:
      with open(os.path.join(root, name), 'wb') as f:
        f.write(b'\x00garbage\xff' * 3)
      garbled += 1
  assert garbled
  result = _run('eval_landauer', f'--workdir={workdir}')
  assert result.returncode != 0
  assert 'is missing or corrupt' in result.stderr
  assert os.path.join(workdir, 'checkpoints', '4') in result.stderr


def _truncate_data(step_dir):
  state = os.path.join(step_dir, 'state')
  for root, _, files in os.walk(state):
    for name in files:
      path = os.path.join(root, name)
      if os.sep + 'd' + os.sep in path:  # Array data; metadata stays readable.
        with open(path, 'r+b') as f:
          f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize('damage', [
    _truncate_data,
    lambda step_dir: shutil.rmtree(os.path.join(step_dir, 'state')),
    lambda step_dir: shutil.rmtree(os.path.join(step_dir, 'meta')),
], ids=['truncated_arrays', 'no_state', 'no_meta'])
def test_load_for_inference_names_a_damaged_checkpoint(trained, tmp_path, damage):
  workdir = str(tmp_path / 'damaged')
  shutil.copytree(trained, workdir)
  step_dir = os.path.join(workdir, 'checkpoints', '4')
  damage(step_dir)
  with pytest.raises(ValueError, match='missing or corrupt') as info:
    checkpoints.load_for_inference(workdir)
  assert step_dir in str(info.value)
  assert checkpoints.load_for_inference(workdir, step=2).step == 2  # The older one is fine.


def test_load_for_inference_without_checkpoints(tmp_path):
  os.makedirs(tmp_path / 'checkpoints')
  with pytest.raises(FileNotFoundError, match='No checkpoint found'):
    checkpoints.load_for_inference(str(tmp_path))


def test_train_rejects_unknown_variant(slice_path, data_dir, tmp_path):
  result = _run('train_landauer', *_train_args(str(tmp_path), slice_path, data_dir,
                                               '--config.model.variant=foo'))
  assert result.returncode != 0
  assert "Unknown model variant 'foo'" in result.stderr


def test_train_reports_missing_data_file(data_dir, tmp_path):
  missing = str(tmp_path / 'no_such_corpus.txt')
  result = _run('train_landauer', *_train_args(str(tmp_path / 'w'), missing, data_dir))
  assert result.returncode != 0
  assert 'no_such_corpus.txt' in result.stderr
  assert 'FileNotFoundError' in result.stderr
