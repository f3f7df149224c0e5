"""Every user mistake on the command line: one line, a non-zero exit, nothing harmed.

The mistakes run in ONE Python process (a driver that calls each entry point's
`experiments.common.run(main)` once per command line, catching its exit), so
that some 60 command lines cost one JAX start-up; a few true end-to-end runs
check the raw output of a real process: an unknown config key of eval_landauer
(here), Ctrl-C, a closed pipe, kill -9 (slow).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import entry_point_driver
from fieldjax import checkpoints as field_checkpoints
from landauerjax import checkpoints
from landauerjax import train

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def drive(tmp_path_factory):
  """`drive(module, argvs)` -> one result per argv, from one driver process shared by
  this file's tests (one JAX start-up, not one per entry point)."""
  yield from entry_point_driver.driver(tmp_path_factory.mktemp('driver') / 'stderr.txt')


def _snapshot(*dirs: str) -> dict[str, str]:
  out = {}
  for directory in dirs:
    for root, _, names in os.walk(directory):
      for name in names:
        if name != '.lock':  # The lock records its last holder.
          path = os.path.join(root, name)
          out[path] = hashlib.sha256(open(path, 'rb').read()).hexdigest()
  return out


_assert_one_line_error = entry_point_driver.assert_one_line_error


@pytest.fixture(scope='module')
def landauer_workdir(landauer_run):
  """The 6-step run of tiny_config('original') (conftest); the tests check it is untouched."""
  return landauer_run[0]


def _landauer_train_args(tiny_config, workdir, *extra):
  """The command line of tiny_config('original'): its differences from landauer_original.py."""
  from experiments.configs import landauer_original  # pylint: disable=g-import-not-at-top
  from landauerjax.core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  base = workdir_lib.flatten(landauer_original.get_config().to_dict())
  tiny = workdir_lib.flatten(tiny_config('original').to_dict())
  overrides = [f'--config.{k}={v}' for k, v in tiny.items() if base[k] != v]
  return (['--config=experiments/configs/landauer_original.py', f'--workdir={workdir}']
          + overrides + list(extra))


def test_train_landauer_mistakes(drive, tiny_config, landauer_workdir, field_workdir,
                                 tmp_path):
  fresh = str(tmp_path / 'fresh')
  before = _snapshot(landauer_workdir, field_workdir)
  cases = [
      (['--config.num_steps=5'], "unknown config key 'num_steps'"),
      (['--config.train.nope=1'], "unknown config key 'train.nope'"),
      (['--config.model.variant=foo'], "Unknown model variant 'foo'"),
      (['--config.train.num_steps=0'], 'config.train.num_steps must be an integer >= 1'),
      (['--config.train.num_steps=abc'], 'num_steps'),
      (['--config.data.local_path=/no/such/file.txt'], 'Data file not found'),
      ([f'--config.data.local_path={tmp_path}'], 'is a directory'),
      (['--config.train.schedule=linear'], "Unknown config.train.schedule 'linear'"),
      (['--config.eval.window=0'], 'config.eval.window must be an integer >= 1'),
      (['--config.train.warmup_steps=-5'], 'config.train.warmup_steps must be'),
      (['--config.train.seq_len=100000'], 'fewer than one window'),
      (['--config.profile.steps=(5,2)'], 'config.profile.steps must be () (no trace) or two'),
      (['--config.profile.steps=(a,b)'], "config.profile.steps must be () (no trace) or two"),
  ]
  argvs = [_landauer_train_args(tiny_config, fresh, *extra) for extra, _ in cases]
  a_file = tmp_path / 'a_file'
  a_file.write_text('not a directory')
  broken = tmp_path / 'broken_config.py'
  broken.write_text('def get_config(:\n')
  cases.append(([f'--workdir={a_file}'], 'as a workdir'))
  argvs.append(_landauer_train_args(tiny_config, str(a_file)))
  cases.append(([f'--config={broken}'], 'the config file failed to load (SyntaxError'))
  argvs.append([f'--config={broken}', f'--workdir={fresh}'])
  argvs.append(_landauer_train_args(tiny_config, landauer_workdir, '--config.seed=7'))
  argvs.append(_landauer_train_args(tiny_config, field_workdir))
  argvs.append(['--config=experiments/configs/nope.py', f'--workdir={fresh}'])
  expected = [e for _, e in cases] + ['seed: 0 -> 7', 'field LM checkpoint',
                                      "config file 'experiments/configs/nope.py' not found"]
  assert len(argvs) == len(expected)
  for result, message in zip(drive('train_landauer', argvs), expected):
    _assert_one_line_error(result, message)
  assert _snapshot(landauer_workdir, field_workdir) == before
  assert not os.path.exists(os.path.join(fresh, 'checkpoints'))


def test_eval_and_generate_landauer_mistakes(drive, landauer_workdir, field_workdir, tmp_path):
  before = _snapshot(landauer_workdir, field_workdir)
  missing = str(tmp_path / 'never_trained')
  eval_results = drive('eval_landauer', [
      [f'--workdir={missing}'],
      [f'--workdir={field_workdir}'],
      [f'--workdir={landauer_workdir}', '--step=4'],
      [f'--workdir={landauer_workdir}', '--config.eval.nope=1'],
      [f'--workdir={landauer_workdir}', '--config.eval.window=0'],
      [f'--workdir={landauer_workdir}', '--config.eval.num_streams=-1'],
  ])
  for result, message in zip(eval_results, ['No checkpoint in', 'field LM checkpoint',
                                            'No checkpoint of step 4',
                                            "unknown config key 'eval.nope'",
                                            'config.eval.window must be >= 1',
                                            'config.eval.num_streams must be >= 1']):
    _assert_one_line_error(result, message)
  generate = drive('generate_landauer', [
      [f'--workdir={landauer_workdir}', '--prompt=the~'],
      [f'--workdir={landauer_workdir}', '--prompt='],
      [f'--workdir={landauer_workdir}', '--max_new_tokens=0'],
      [f'--workdir={landauer_workdir}', '--temperature=-1'],
      [f'--workdir={field_workdir}', '--prompt=the'],
      [f'--workdir={landauer_workdir}', '--prompt=the', '--max_new_tokens=5', '--top_k=1000'],
      [f'--workdir={landauer_workdir}', '--prompt=the', '--temperature=nan'],
  ])
  for result, message in zip(generate[:5] + generate[6:], [
      "'~'", 'empty', 'max_new_tokens', 'temperature', 'field LM checkpoint',
      '--temperature must be a finite number']):
    _assert_one_line_error(result, message)
    assert result['stdout'] == ''  # Nothing printed before the error.
  assert generate[5]['code'] in (0, None) and len(generate[5]['stdout']) == len('the') + 5 + 1
  assert _snapshot(landauer_workdir, field_workdir) == before


def test_field_mistakes(drive, field_workdir, landauer_workdir, small_corpus_path, data_dir,
                        tmp_path):
  before = _snapshot(landauer_workdir, field_workdir)
  fresh = str(tmp_path / 'fresh')
  data = ['--dataset=local_text', f'--local_path={small_corpus_path}', '--num_steps=2',
          f'--data_dir={data_dir}']
  cases = [
      (['bogus'], 'command one of'),
      (['train', f'--workdir={fresh}', '--model_size=huge', *data], "Unknown model size 'huge'"),
      (['train', f'--workdir={fresh}', '--dataset=nope'], "Unknown config.data.dataset 'nope'"),
      (['train', f'--workdir={fresh}', *data, '--perturbation_schedule={"0": "gauss"}'],
       "'gauss'"),
      (['train', f'--workdir={fresh}', *data, '--perturbation_schedule={"0": "levy"'],
       'JSON'),
      (['train', f'--workdir={fresh}', *data, '--num_steps=0'], 'num_steps'),
      (['train', f'--workdir={fresh}', '--dataset=local_text', '--local_path=/no/file.txt'],
       'Data file not found'),
      (['train', f'--workdir={fresh}', *data, '--model_overrides={"nope": 1}'], 'nope'),
      (['train', f'--workdir={landauer_workdir}', *data], 'Landauer LM checkpoint'),
      (['generate', 'the', f'--checkpoint={landauer_workdir}'], 'Landauer LM checkpoint'),
      (['generate', 'the', f'--checkpoint={field_workdir}', '--temperature=0'], 'temperature'),
      (['generate', 'the', f'--checkpoint={field_workdir}', '--top_k=-1'], 'top_k'),
      (['generate', 'the', f'--checkpoint={field_workdir}', '--max_new_tokens=0'],
       'max_new_tokens'),
      (['generate', 'the', f'--checkpoint={field_workdir}', '--perturbation=gauss'],
       "Unknown perturbation 'gauss'"),
      (['generate', 'th~', f'--checkpoint={field_workdir}'], 'Cannot encode the prompt'),
      (['generate', 'the', f'--checkpoint={field_workdir}', '--step=99'],
       'No checkpoint of step 99'),
      (['generate', 'the'], 'Needs --checkpoint'),
      (['generate', 'the', f'--checkpoint={tmp_path / "empty"}'], 'No checkpoint in'),
      (['analyze', 'the', f'--checkpoint={landauer_workdir}'], 'Landauer LM checkpoint'),
      (['profile', '--batch_sizes=a'], 'must be integers'),
      (['generate', '', f'--checkpoint={field_workdir}'], 'prompt is empty'),
      (['ablation', 'embedding_comparison', f'--workdir={fresh}',
        '--embeddings=golden,sparkly'], "Unknown embedding 'sparkly'"),
      (['ablation', 'embedding_comparison', f'--workdir={fresh}', '--datasets=local_text',
        '--local_path=/no/such/file.txt'], 'Data file not found'),
      (['generate', 'the', f'--checkpoint={field_workdir}', '--temperature=inf'],
       'finite number > 0'),
      (['train', f'--workdir={fresh}', *data, '--eval_max_tokens=-5'], 'eval_max_tokens'),
      (['train', f'--workdir={fresh}', *data, '--vocab_size=0'], 'vocab_size'),
      (['analyze', 'the', '--visualize', f'--save_path={tmp_path / "x.foo"}'],
       'must name a .png'),
      (['profile', '--batch_sizes=0'], 'integers >= 1'),
      (['generate', 'the', f'--checkpoint={field_workdir}', '--collapse=gravity'],
       "Unknown --collapse='gravity'"),
      (['generate', 'the', f'--checkpoint={field_workdir}', '--context=-1'], 'context'),
      (['train', f'--workdir={fresh}', *data, '--config.profile.steps=(0,3)'],
       'profile_steps (config.profile.steps) must be () (no trace) or two steps'),
      (['train', f'--workdir={fresh}', *data, '--config.profile.steps=3'],
       'config.profile.steps) must be'),
  ]
  results = drive('field', [argv for argv, _ in cases])
  for result, (argv, message) in zip(results, cases):
    _assert_one_line_error(result, message)
    if argv[0] == 'generate':
      assert result['stdout'] == ''
  assert _snapshot(landauer_workdir, field_workdir) == before
  assert not os.path.exists(fresh)  # Refused commands make no workdir.


def test_jax_flag_mistakes_are_one_line(drive, tiny_config, landauer_workdir, field_workdir,
                                       tmp_path):
  """JAX's own flags are every command's: a mistake with one is one line, and nothing runs."""
  before = _snapshot(landauer_workdir, field_workdir)
  fresh = str(tmp_path / 'fresh')
  mistakes = [(['--jax_debug_nans=maybe'], '--jax_debug_nans=maybe'),
              (['--jax_no_such_flag=1'], "Unknown command line flag 'jax_no_such_flag'"),
              (['--jax_default_matmul_precision=nonsense'], 'jax_default_matmul_precision')]
  commands = [
      ('train_landauer', _landauer_train_args(tiny_config, landauer_workdir,
                                              '--config.train.num_steps=9')),
      ('train_landauer', _landauer_train_args(tiny_config, fresh)),
      ('eval_landauer', [f'--workdir={landauer_workdir}']),
      ('generate_landauer', [f'--workdir={landauer_workdir}', '--prompt=the']),
      ('field', ['generate', 'the', f'--checkpoint={field_workdir}']),
      ('field', ['train', f'--workdir={fresh}', '--num_steps=2']),
  ]
  for target, argv in commands:
    results = drive(target, [argv + flag for flag, _ in mistakes])
    for result, (_, message) in zip(results, mistakes):
      _assert_one_line_error(result, message)
      assert result['stdout'] == ''
  assert _snapshot(landauer_workdir, field_workdir) == before
  assert not os.path.exists(fresh)


def test_generate_context_defaults_to_the_validation_window():
  window = field_checkpoints.validation_window
  assert window({'train': {'seq_len': 8, 'eval_seq_len': 0}}) == 8
  assert window({'train': {'seq_len': 8, 'eval_seq_len': 32}}) == 32
  assert window({'train': {'seq_len': 8}}) == 8  # Runs from before eval_seq_len.
  assert window({}) == 128


def test_eval_config_key_mistake_in_a_real_process(landauer_workdir):
  """Unknown --config.KEY of eval_landauer, whose overrides once failed at import."""
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.eval_landauer', f'--workdir={landauer_workdir}',
       '--config.eval.nope=1'], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, JAX_PLATFORMS='cpu'), check=False)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.splitlines() == [
      result.stderr.splitlines()[0]] and "unknown config key 'eval.nope'" in result.stderr


def _popen(module, *args, **kwargs):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.Popen([sys.executable, '-m', f'experiments.{module}', *args],
                          cwd=REPO_ROOT, env=env, text=True, **kwargs)


def _wait_for(predicate, process, timeout=240):
  deadline = time.time() + timeout
  while not predicate():
    assert process.poll() is None, process.communicate()[1][-3000:]
    assert time.time() < deadline
    time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_and_ctrl_c_save_and_stop_and_kill_9_resumes_exactly(tiny_config, tmp_path):
  """SIGTERM, Ctrl-C and kill -9 in the middle of one real run, then the run resumed
  in-process: the same metrics lines and parameters as the uninterrupted run."""
  reference = str(tmp_path / 'reference')
  config = tiny_config('original')
  config.train.num_steps = 60
  config.checkpoint.every = 3
  config.eval.every = 30
  train.train_and_evaluate(config, reference)
  args = _landauer_train_args(tiny_config, str(tmp_path / 'run'), '--config.train.num_steps=60',
                              '--config.eval.every=30')
  ckpt = tmp_path / 'run' / 'checkpoints'
  newest = lambda: max([int(n) for n in os.listdir(ckpt) if n.isdigit()], default=0)
  for how in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
    process = _popen('train_landauer', *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = (newest() if ckpt.is_dir() else 0) + 3
    _wait_for(lambda: ckpt.is_dir() and newest() >= first, process)
    process.send_signal(how)
    _, stderr = process.communicate(timeout=120)
    if how == signal.SIGKILL:
      assert process.returncode == -signal.SIGKILL
      continue
    assert process.returncode == 75, stderr[-2000:]
    last = stderr.rstrip().splitlines()[-1]
    step = newest()  # The step in flight, saved though no cadence asked for it.
    assert last == (f'stopped by {how.name} after step {step}, whose checkpoint is saved and '
                    f'verified in {ckpt / str(step)}; run the same command again to resume.')
    assert 'Traceback' not in stderr
  train.train_and_evaluate(config, str(tmp_path / 'run'))

  def lines(workdir):
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      return [{k: v for k, v in json.loads(l).items() if k != 'chars_per_sec'} for l in f]
  assert lines(str(tmp_path / 'run')) == lines(reference)
  jax.tree.map(np.testing.assert_array_equal,
               checkpoints.load_for_inference(str(tmp_path / 'run')).params,
               checkpoints.load_for_inference(reference).params)


@pytest.mark.slow
def test_generate_into_a_closed_pipe_exits_quietly(landauer_workdir):
  process = _popen('generate_landauer', f'--workdir={landauer_workdir}', '--prompt=the',
                   '--max_new_tokens=100000', '--chunk=8', stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
  assert process.stdout.read(3) == 'the'  # Reads the first characters...
  process.stdout.close()  # ... then goes away, as `| head -c 3` does.
  stderr = process.stderr.read()
  process.wait(timeout=120)
  assert process.returncode == 0, stderr[-2000:]
  assert 'Traceback' not in stderr and 'BrokenPipe' not in stderr
