"""End-to-end tests of `python -m experiments.field <command>` on a tiny config, and bad input."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import fake_wikitext
from landauerjax.core import text_files

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_MODEL = json.dumps({'embed_dim': 8, 'lags': 3, 'lattice_dim': 64,
                         'field': {'chunk': 8, 'window': 16}})
TINY = ('--model_size=tiny', f'--model_overrides={TINY_MODEL}', '--batch_size=4',
        '--seq_len=16', '--eval_max_tokens=300')

# The five commands end to end in subprocesses: the slow CI step (pytest -m slow).
pytestmark = pytest.mark.slow


def _run(*args):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-m', 'experiments.field', *args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=300, check=False)


def _data(corpus, data_dir):
  return ('--dataset=local_text', f'--local_path={corpus}', f'--data_dir={data_dir}')


@pytest.fixture(scope='module')
def trained(small_corpus_path, data_dir, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('field_run'))
  result = _run('train', f'--workdir={workdir}', *_data(small_corpus_path, data_dir), *TINY,
                '--num_steps=6', '--eval_every=3', '--checkpoint_every=3',
                '--perturbation_schedule={"0": "beta", "3": "levy"}')
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


def test_train_writes_metrics_with_val_ce_and_checkpoints(trained):
  with open(os.path.join(trained, 'metrics.jsonl')) as f:
    lines = [json.loads(l) for l in f]
  assert [l['step'] for l in lines] == [3, 6]
  assert all('val_ce' in l and l['val_ce'] > 0 for l in lines)
  assert [l['perturbation'] for l in lines] == ['beta', 'levy']
  assert sorted(os.listdir(os.path.join(trained, 'checkpoints'))) == ['3', '6']


def test_generate_streams_text_from_checkpoint(trained):
  result = _run('generate', 'the cat', f'--checkpoint={trained}', '--perturbation=levy',
                '--temperature=0.9', '--max_new_tokens=30')
  assert result.returncode == 0, result.stderr[-3000:]
  text = result.stdout.rstrip('\n')
  assert text.startswith('the cat') and len(text) == len('the cat') + 30


@pytest.mark.parametrize('rule', ['replicator', 'off'])
def test_generate_with_another_collapse_rule(trained, rule):
  result = _run('generate', 'the', f'--checkpoint={trained}', f'--collapse={rule}',
                '--max_new_tokens=12')
  assert result.returncode == 0, result.stderr[-3000:]
  assert len(result.stdout.rstrip('\n')) == len('the') + 12


def test_analyze_writes_picture(tmp_path):
  png = tmp_path / 'field.png'
  result = _run('analyze', 'Hello world', '--visualize', f'--save_path={png}',
                f'--model_overrides={TINY_MODEL}')
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  assert summary['tokens'] == len('Hello world')
  assert png.stat().st_size > 10_000


def test_ablation_writes_markdown_and_json(small_corpus_path, data_dir, tmp_path):
  out = tmp_path / 'ablation.md'
  result = _run('ablation', 'embedding_comparison', f'--workdir={tmp_path / "grid"}',
                '--embeddings=golden,log_phase', '--perturbations=none,adaptive',
                '--datasets=local_text', f'--local_path={small_corpus_path}',
                f'--data_dir={data_dir}', *TINY, '--num_steps=2', '--eval_every=2',
                '--checkpoint_every=2', f'--output={out}')
  assert result.returncode == 0, result.stderr[-3000:]
  rows = json.loads((tmp_path / 'ablation.json').read_text())['rows']
  assert [(r['embedding'], r['perturbation']) for r in rows] == [
      ('golden', 'none'), ('golden', 'adaptive'), ('log_phase', 'none'),
      ('log_phase', 'adaptive')]
  assert all(r['status'] == 'ok' and r['val_ce'] > 0 for r in rows)
  assert '| local_text | log_phase | adaptive |' in out.read_text()


def test_profile_prints_table_with_matmul_rate(tmp_path):
  out = tmp_path / 'profile.md'
  result = _run('profile', f'--model_overrides={TINY_MODEL}', '--batch_sizes=1,2',
                '--seq_lengths=16', f'--output={out}', '--profile_vocab_size=50')
  assert result.returncode == 0, result.stderr[-3000:]
  payload = json.loads((tmp_path / 'profile.json').read_text())
  assert [(r['batch_size'], r['seq_len']) for r in payload['rows']] == [(1, 16), (2, 16)]
  for r in payload['rows']:
    assert r['tokens_per_sec'] > 0 and r['flops_per_step'] > 0
    # The matmul reference is timed in the same rounds as the step it is compared with.
    assert r['matmul_flops_per_sec'] > 0
    assert r['fraction_of_matmul'] == r['flops_per_sec'] / r['matmul_flops_per_sec']
  assert 'matmul GFLOP/s (same rounds)' in out.read_text()


def test_checkpoint_of_another_size_is_refused(trained, small_corpus_path, data_dir):
  bigger = json.dumps({'embed_dim': 8, 'lags': 3, 'lattice_dim': 128})
  result = _run('train', f'--workdir={trained}', *_data(small_corpus_path, data_dir),
                *TINY, f'--model_overrides={bigger}', '--num_steps=9')
  assert result.returncode == 2
  assert 'other settings' in result.stderr
  assert 'model.lattice_dim: 64 -> 128' in result.stderr
  assert sorted(os.listdir(os.path.join(trained, 'checkpoints'))) == ['3', '6']


def test_train_command_streams_wikitext103_with_sentencepiece(tmp_path, data_dir):
  root = tmp_path / 'wikitext-103-raw'
  root.mkdir()
  for split, name in text_files.WIKITEXT_FILES.items():
    (root / name).write_text(fake_wikitext(8 if split == 'train' else 2, len(name)),
                             encoding='utf-8')
  workdir = tmp_path / 'run'
  result = _run('train', f'--workdir={workdir}', '--dataset=wikitext-103',
                f'--local_path={root}', f'--data_dir={data_dir}', '--tokenizer=sentencepiece',
                '--vocab_size=120', *TINY, '--num_steps=4', '--eval_every=2',
                '--checkpoint_every=2')
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [l['step'] for l in lines] == [2, 4] and all(l['val_ce'] > 0 for l in lines)
  assert any(name.endswith('.model') for name in os.listdir(workdir / 'tokenizer'))
  meta = json.loads((workdir / 'checkpoints' / '4' / 'meta' / 'metadata').read_text())
  assert len(meta['stream_state']['processes']) == 1  # This process's stream position.
  assert meta['tokenizer']['kind'] == 'sentencepiece'
