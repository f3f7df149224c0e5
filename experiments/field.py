r"""The field-theoretic LM's five commands: train, generate, ablation, analyze, profile.

  python -m experiments.field train --config=experiments/configs/field_tiny.py \
      --workdir=/tmp/field --config.data.local_path=../shared/data/tiny_shakespeare.txt \
      --config.train.perturbation_schedule="{0: 'beta', 1000: 'adaptive'}"
  python -m experiments.field generate "To be" --checkpoint=/tmp/field --perturbation=levy \
      --temperature=0.9 --max_new_tokens=200
  python -m experiments.field ablation embedding_comparison --embeddings=golden,log_phase \
      --perturbations=levy,beta,adaptive --datasets=tiny_shakespeare \
      --local_path=../shared/data/tiny_shakespeare.txt --num_steps=500 --workdir=/tmp/ablation
  python -m experiments.field analyze "Hello world" --visualize --save_path=/tmp/field_evolution.png
  python -m experiments.field profile --model_size=small --batch_sizes=1,4,8,16 \
      --seq_lengths=128,256,512 --output=/tmp/profile_small.md

`train` and `ablation` read a config file (--config, default
experiments/configs/field_tiny.py) with --config.KEY=VALUE overrides; the
original's spellings work as shorthands for its keys: --dataset, --local_path,
--data_dir, --tokenizer, --vocab_size (config.data.*), --model_size (the
dimensions of a named size), --model_overrides (JSON of config.model keys),
--embedding, --hebbian_rule, --dtype (config.model.*), --num_steps,
--batch_size, --seq_len, --seed,
--perturbation_schedule (JSON), --eval_every, --eval_max_tokens,
--checkpoint_every. A shorthand wins over the config. Re-running `train` with
the same --workdir resumes from its newest checkpoint that verifies.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
from typing import Any

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
from ml_collections import config_flags
import numpy as np

from experiments import common
from fieldjax import ablation
from fieldjax import analysis
from fieldjax import checkpoints
from fieldjax import collapse as collapse_lib
from fieldjax import embeddings
from fieldjax import generation
from fieldjax import model as model_lib
from fieldjax import perturbations
from fieldjax import profiling
from fieldjax import config_schema as field_schema
from fieldjax import train as train_lib
from landauerjax.core import reports
from landauerjax.core import text_files
from landauerjax.core import text_sources
from landauerjax.core import tokenizers

COMMANDS = ('train', 'generate', 'ablation', 'analyze', 'profile')
ABLATIONS = ('embedding_comparison',)
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), 'configs', 'field_tiny.py')

config_flags.DEFINE_config_file(
    'config', None, 'train / ablation: a field LM config file (default: '
    'experiments/configs/field_tiny.py); --config.KEY=VALUE overrides.', lock_config=True)
# Shorthands for config keys (None: as the config says).
common.define_distributed_flags()  # train: a multi-process run.
_DATA = flags.DEFINE_string('dataset', None, f'config.data.dataset: one of {text_sources.DATASETS}.')
_LOCAL = flags.DEFINE_string('local_path', None, 'config.data.local_path: an offline copy of '
                             'the dataset (ablation: NAME=FILE,NAME=FILE).')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'config.data.data_dir: TFDS data directory.')
_TOKENIZER = flags.DEFINE_string('tokenizer', None, f'config.data.tokenizer: one of '
                                 f'{tokenizers.KINDS}.')
_VOCAB = flags.DEFINE_integer('vocab_size', None, 'config.data.vocab_size (SentencePiece).',
                              lower_bound=8)
_SIZE = flags.DEFINE_string('model_size', None, f'The dimensions of a size: one of '
                            f'{sorted(model_lib.SIZES)}.')
_OVERRIDES = flags.DEFINE_string('model_overrides', None,
                                 'JSON of config.model keys, e.g. \'{"feature_norm": 16, '
                                 '"field": {"num_steps": 0}}\'.')
_EMBEDDING = flags.DEFINE_string('embedding', None, f'config.model.embedding: one of '
                                 f'{embeddings.EMBEDDINGS}.')
_RULE = flags.DEFINE_string('hebbian_rule', None, 'config.model.hebbian_rule.')
_DTYPE = flags.DEFINE_string('dtype', None, f'config.model.dtype: one of '
                             f'{sorted(model_lib.DTYPES)}.')
_STEPS = flags.DEFINE_integer('num_steps', None, 'config.train.num_steps.')
_BATCH = flags.DEFINE_integer('batch_size', None, 'config.train.batch_size.')
_SEQ = flags.DEFINE_integer('seq_len', None, 'config.train.seq_len.')
_SEED = flags.DEFINE_integer('seed', None, 'config.seed; generate / analyze: the PRNG seed '
                             '(default 0).')
_SCHEDULE = flags.DEFINE_string('perturbation_schedule', None,
                                'config.train.perturbation_schedule as JSON {step: kind}, '
                                'kinds ' + ', '.join(perturbations.KINDS))
_EVAL_EVERY = flags.DEFINE_integer('eval_every', None, 'config.eval.every.')
_EVAL_MAX = flags.DEFINE_integer('eval_max_tokens', None, 'config.eval.max_tokens.')
_CKPT_EVERY = flags.DEFINE_integer('checkpoint_every', None, 'config.checkpoint.every.')
# Commands.
_WORKDIR = flags.DEFINE_string('workdir', '', 'Run directory (checkpoints, metrics.jsonl).')
_CHECKPOINT = flags.DEFINE_string('checkpoint', '', 'Run directory to load (default --workdir).')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step to load (default: the newest that '
                             'verifies); train resumes from it, moving newer ones to '
                             'WORKDIR/checkpoints_set_aside/.', lower_bound=0)
_ALLOW_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False, 'train: resume a workdir although the model, settings or '
    'data differ from its run (other than num_steps and the cadences, which may always change).')
_PERTURBATION = flags.DEFINE_string('perturbation', 'none', 'Perturbation during collapse.')
_COLLAPSE = flags.DEFINE_string(
    'collapse', '', "generate: the collapse rule, measurement | replicator | off (plain "
    "sampling); '' keeps the checkpoint's (fieldjax/collapse.py).")
_TEMPERATURE = flags.DEFINE_float('temperature', 1.0, 'Sampling temperature (> 0).')
_TOP_K = flags.DEFINE_integer('top_k', 0, 'Sample among the k most likely tokens; 0 (or any k '
                              'at least the vocabulary size) samples among all.', lower_bound=0)
_MAX_NEW = flags.DEFINE_integer('max_new_tokens', 200, 'Tokens to generate.', lower_bound=1)
_CONTEXT = flags.DEFINE_integer('context', 0, 'generate: tokens of context the field (and '
                                'recall) sees; 0: the validation window of the checkpoint\'s '
                                'run (eval.seq_len, else train.seq_len).', lower_bound=0)
_VISUALIZE = flags.DEFINE_boolean('visualize', False, 'analyze: write the PNG.')
_SAVE_PATH = flags.DEFINE_string('save_path', '', 'analyze: PNG path (default: '
                                 'field_evolution.png in --workdir, else in the temp dir).')
# ablation
_EMBEDDINGS = flags.DEFINE_list('embeddings', ['golden', 'log_phase'], 'ablation grid.')
_PERTURBATIONS = flags.DEFINE_list('perturbations', ['levy', 'beta', 'adaptive'], 'ablation grid.')
_DATASETS = flags.DEFINE_list('datasets', ['tiny_shakespeare'], 'ablation grid.')
_OUTPUT = flags.DEFINE_string('output', '', 'ablation/profile: Markdown path, JSON beside it '
                               '(default: in --workdir; profile without one: the temp dir).')
# profile
_BATCHES = flags.DEFINE_list('batch_sizes', ['1', '4', '8', '16'], 'profile grid.')
_SEQS = flags.DEFINE_list('seq_lengths', ['128', '256', '512'], 'profile grid.')
_PROFILE_VOCAB = flags.DEFINE_integer('profile_vocab_size', 8192, 'profile: vocabulary.')


def _fail(message: str) -> None:
  raise app.UsageError(message)


def _local_paths(names: list[str]) -> dict[str, str]:
  """--local_path as FILE (one dataset) or NAME=FILE,NAME=FILE."""
  value = _LOCAL.value
  if not value:
    return {}
  if '=' not in value:
    if len(names) > 1:
      _fail(f'--local_path={value!r} is one file but there are {len(names)} datasets; '
            'use --local_path=NAME=FILE,NAME=FILE.')
    return {names[0]: value}
  out = {}
  for part in value.split(','):
    name, _, path = part.partition('=')
    if name not in text_sources.DATASETS:
      _fail(f'--local_path names unknown dataset {name!r}; expected one of {text_sources.DATASETS}.')
    out[name] = path
  return out


def _set_nested(section: ml_collections.ConfigDict, values: dict[str, Any], where: str) -> None:
  for key, value in values.items():
    if key not in section:
      _fail(f'Unknown key {where}.{key}; known: {sorted(section.keys())}.')
    if isinstance(section[key], ml_collections.ConfigDict):
      if not isinstance(value, dict):
        _fail(f'{where}.{key} takes a JSON object, got {value!r}.')
      _set_nested(section[key], value, f'{where}.{key}')
    else:
      section[key] = value


def config_with_shorthands() -> ml_collections.ConfigDict:
  """--config with the shorthand flags applied (a copy; the flag's value is untouched)."""
  config = copy.deepcopy(flags.FLAGS.config)
  for flag, (section, key) in (
      (_DATA, ('data', 'dataset')), (_LOCAL, ('data', 'local_path')),
      (_DATA_DIR, ('data', 'data_dir')), (_TOKENIZER, ('data', 'tokenizer')),
      (_VOCAB, ('data', 'vocab_size')), (_EMBEDDING, ('model', 'embedding')),
      (_RULE, ('model', 'hebbian_rule')), (_DTYPE, ('model', 'dtype')),
      (_STEPS, ('train', 'num_steps')), (_BATCH, ('train', 'batch_size')),
      (_SEQ, ('train', 'seq_len')), (_EVAL_EVERY, ('eval', 'every')),
      (_EVAL_MAX, ('eval', 'max_tokens')), (_CKPT_EVERY, ('checkpoint', 'every'))):
    if flag.value is not None:
      config[section][key] = flag.value
  if _SEED.value is not None:
    config.seed = _SEED.value
  if _SIZE.value is not None:
    if _SIZE.value not in model_lib.SIZES:
      _fail(f'Unknown model size {_SIZE.value!r}; expected one of {sorted(model_lib.SIZES)}.')
    for key, value in model_lib.SIZES[_SIZE.value].items():
      config.model[key] = value
  if _OVERRIDES.value is not None:
    try:
      overrides = json.loads(_OVERRIDES.value)
    except json.JSONDecodeError as e:
      _fail(f'--model_overrides is not JSON ({e}): {_OVERRIDES.value!r}')
    if not isinstance(overrides, dict):
      _fail(f'--model_overrides must be a JSON object, got {_OVERRIDES.value!r}')
    _set_nested(config.model, overrides, 'config.model')
  if _SCHEDULE.value is not None:
    try:
      schedule = perturbations.parse_schedule(_SCHEDULE.value)
    except ValueError as e:
      _fail(f'--perturbation_schedule: {e}')
    config.train.perturbation_schedule = dict(schedule)
  return config


def _model_config(vocab_size: int) -> model_lib.ModelConfig:
  return field_schema.model_config_from(config_with_shorthands().model, vocab_size)


def _require_workdir(command: str) -> str:
  if not _WORKDIR.value:
    _fail(f'{command} needs --workdir=DIR.')
  return _WORKDIR.value


def cmd_train(args: list[str]) -> None:
  if args:
    _fail(f'train takes no positional arguments, got {args}.')
  run = train_lib.train_and_evaluate(config_with_shorthands(), _require_workdir('train'),
                                     allow_config_change=_ALLOW_CHANGE.value,
                                     resume_step=_STEP.value)
  print(json.dumps(run['final']))


def _load_checkpoint():
  directory = _CHECKPOINT.value or _WORKDIR.value
  if not directory:
    _fail('Needs --checkpoint=DIR (a train --workdir).')
  step, params, cfg, meta = checkpoints.load(directory, _STEP.value)
  return step, params, cfg, tokenizers.tokenizer_from_json(meta['tokenizer']), meta


def cmd_generate(args: list[str]) -> None:
  if len(args) != 1:
    _fail('generate takes one positional argument, the prompt: generate "The quantum field"')
  prompt = args[0]
  if not prompt:
    _fail('The prompt is empty: generate needs at least one character of prompt.')
  if _PERTURBATION.value not in perturbations.KINDS:
    _fail(f'Unknown perturbation {_PERTURBATION.value!r}; expected one of {perturbations.KINDS}.')
  if not 0 < _TEMPERATURE.value < float('inf'):
    _fail(f'--temperature must be a finite number > 0, got {_TEMPERATURE.value}.')
  rules = collapse_lib.RULES + ('off',)
  if _COLLAPSE.value and _COLLAPSE.value not in rules:
    _fail(f"Unknown --collapse={_COLLAPSE.value!r}; expected one of {rules} or '' (the "
          "checkpoint's rule).")
  step, params, cfg, tokenizer, meta = _load_checkpoint()
  if _COLLAPSE.value:
    cfg = collapse_lib.with_rule(cfg, _COLLAPSE.value)
  try:
    prompt_tokens = tokenizer.encode(prompt)
  except ValueError as e:
    _fail(f'Cannot encode the prompt: {e}')
  if len(prompt_tokens) == 0:
    _fail(f'The prompt {prompt!r} encodes to no tokens; give some text.')
  sys.stdout.write(prompt)

  def write(tokens: np.ndarray) -> None:
    sys.stdout.write(tokenizer.decode(tokens))
    sys.stdout.flush()
  stats = generation.stream(
      params, cfg, prompt_tokens, write, num_tokens=_MAX_NEW.value,
      key=jax.random.PRNGKey(_SEED.value or 0), kind=_PERTURBATION.value,
      temperature=_TEMPERATURE.value, top_k=_TOP_K.value,
      context=_CONTEXT.value or checkpoints.validation_window(meta))
  sys.stdout.write('\n')
  logging.info('checkpoint step %d; collapse: %.1f steps on average, coherence at '
               'measurement %.3f (threshold %.2f)', step, stats['mean_collapse_steps'],
               stats['mean_coherence'], cfg.collapse.threshold)


PICTURE_FORMATS = ('png', 'pdf', 'svg', 'jpg', 'jpeg')


def _picture_path() -> str:
  """--save_path checked before any work: a file name with a picture extension (a
  directory gets field_evolution.png inside), its folder created."""
  path = _SAVE_PATH.value or os.path.join(
      _WORKDIR.value or _CHECKPOINT.value or tempfile.gettempdir(), 'field_evolution.png')
  if os.path.isdir(path):
    path = os.path.join(path, 'field_evolution.png')
  if os.path.splitext(path)[1].lower().lstrip('.') not in PICTURE_FORMATS:
    _fail(f'--save_path={path!r} must name a .png, .pdf, .svg or .jpg file.')
  try:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  except OSError as e:
    _fail(f'--save_path={path!r}: cannot create its folder ({e.strerror}).')
  return path


def cmd_analyze(args: list[str]) -> None:
  if len(args) != 1 or not args[0]:
    _fail('analyze takes one non-empty positional argument, the text: analyze "Hello world"')
  text = args[0]
  save_path = _picture_path() if _VISUALIZE.value else ''
  if _CHECKPOINT.value or _WORKDIR.value:
    step, params, cfg, tokenizer, _ = _load_checkpoint()
    source = f'checkpoint step {step}'
  else:  # The field itself has no learned parameters except the masses.
    tokenizer = tokenizers.ByteTokenizer()
    cfg = _model_config(tokenizer.vocab_size)
    params = model_lib.init_params(cfg, jax.random.PRNGKey(_SEED.value or 0))
    source = 'untrained (byte tokens, uniform masses)'
  tokens = tokenizer.encode(text)
  trajectory = analysis.field_trajectory(params, tokens, cfg)
  labels = [tokenizer.decode([int(t)]) for t in tokens]
  summary = {'tokens': len(tokens), 'source': source,
             'coherence': [round(float(c), 4) for c in trajectory['coherence']],
             'mean_gravity': float(trajectory['gravity'].sum() / max(1, len(tokens)))}
  if _VISUALIZE.value:
    analysis.plot_field_evolution(trajectory, labels, save_path,
                                  title=f'{text!r} ({source})', threshold=cfg.collapse.threshold)
    summary['picture'] = save_path
  print(json.dumps(summary))


def cmd_ablation(args: list[str]) -> None:
  if len(args) != 1 or args[0] not in ABLATIONS:
    _fail(f'ablation takes one positional argument, one of {ABLATIONS}; got {args}.')
  workdir = _require_workdir('ablation')
  for e in _EMBEDDINGS.value:
    if e not in embeddings.EMBEDDINGS:
      _fail(f'Unknown embedding {e!r}; expected one of {embeddings.EMBEDDINGS}.')
  for p in _PERTURBATIONS.value:
    if p not in perturbations.KINDS:
      _fail(f'Unknown perturbation {p!r}; expected one of {perturbations.KINDS}.')
  for d in _DATASETS.value:
    if d not in text_sources.DATASETS:
      _fail(f'Unknown dataset {d!r}; expected one of {text_sources.DATASETS}.')
  paths = _local_paths(_DATASETS.value)
  for name, path in paths.items():  # Given, so meant: a wrong path is a mistake, not a skip.
    if name in text_sources.TEXT_FILE_DATASETS:
      text_files.check_data_file(path)
    elif not os.path.exists(path):
      _fail(f'--local_path for {name}: {path!r} does not exist.')
  base = config_with_shorthands()
  rows = ablation.run_grid(base, workdir, datasets=_DATASETS.value,
                           embeddings=_EMBEDDINGS.value, perturbations=_PERTURBATIONS.value,
                           local_paths=paths)
  markdown = ablation.markdown(args[0], base, rows)
  print(markdown)
  reports.write_markdown_and_json(_OUTPUT.value or os.path.join(workdir, 'ablation.md'),
                                  markdown, {'argv': sys.argv, 'rows': rows})


def cmd_profile(args: list[str]) -> None:
  if args:
    _fail(f'profile takes no positional arguments, got {args}.')
  try:
    batches = [int(b) for b in _BATCHES.value]
    seqs = [int(s) for s in _SEQS.value]
  except ValueError:
    _fail(f'--batch_sizes and --seq_lengths must be integers: {_BATCHES.value}, {_SEQS.value}')
  if min(batches + seqs, default=0) < 1:
    _fail(f'--batch_sizes and --seq_lengths must be integers >= 1: {_BATCHES.value}, '
          f'{_SEQS.value}')
  cfg = _model_config(_PROFILE_VOCAB.value)
  rows = []
  for b in batches:
    for t in seqs:
      row = profiling.profile_cell(cfg, b, t, matmul_dtype=cfg.dtype)
      logging.info('batch %d seq %d: %.0f tokens/s', b, t, row['tokens_per_sec'])
      rows.append(row)
  params = model_lib.param_count(cfg)
  size = _SIZE.value or f'd={cfg.embed_dim} K={cfg.lags} D={cfg.lattice_dim}'
  header = (f'Field LM `{size}` ({params:,} parameters, vocabulary '
            f'{cfg.vocab_size}, {cfg.dtype}) on {jax.devices()[0].device_kind} '
            f'({jax.device_count()} device, {os.cpu_count()} CPUs): warm jitted Hebbian '
            f'step. "% of matmul" compares its FLOP rate with a dense {cfg.dtype} '
            '2048^3 matmul timed in alternation with it (same rounds, same load).')
  markdown = header + '\n\n' + profiling.markdown_table(rows)
  print(markdown)
  # Never into the repository: the workdir, else the temp dir.
  output = _OUTPUT.value or os.path.join(_WORKDIR.value or tempfile.gettempdir(),
                                         f'profile_field_{_SIZE.value or "config"}.md')
  reports.write_markdown_and_json(output, markdown, {'argv': sys.argv, 'params': params,
                                                     'rows': rows, 'model': cfg.to_json()})
  logging.info('Wrote %s and its .json.', output)


def main(argv: list[str]) -> None:
  if len(argv) < 2 or argv[1] not in COMMANDS:
    raise app.UsageError(f'Usage: python -m experiments.field <command> [...], command '
                         f'one of {COMMANDS}; got {argv[1:2]}.')
  common.quiet_libraries()
  {'train': cmd_train, 'generate': cmd_generate, 'ablation': cmd_ablation,
   'analyze': cmd_analyze, 'profile': cmd_profile}[argv[1]](argv[2:])


def cli() -> None:
  """The command line: `main` with one-line errors (experiments.common.run)."""
  common.run(main, trains=lambda: sys.argv[1:2] == ['train'], default_config=DEFAULT_CONFIG)


if __name__ == '__main__':
  cli()
