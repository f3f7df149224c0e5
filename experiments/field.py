r"""The field-theoretic LM's five commands: train, generate, ablation, analyze, profile.

  python -m experiments.field train --model_size=tiny --dataset=tiny_shakespeare \
      --local_path=../shared/data/tiny_shakespeare.txt --num_steps=2000 \
      --perturbation_schedule='{"0": "beta", "1000": "adaptive"}' --workdir=/tmp/field
  python -m experiments.field generate "To be" --checkpoint=/tmp/field --perturbation=levy \
      --temperature=0.9 --max_new_tokens=200
  python -m experiments.field ablation embedding_comparison --embeddings=golden,log_phase \
      --perturbations=levy,beta,adaptive --datasets=tiny_shakespeare \
      --local_path=../shared/data/tiny_shakespeare.txt --num_steps=500 --workdir=/tmp/ablation
  python -m experiments.field analyze "Hello world" --visualize --save_path=/tmp/field_evolution.png
  python -m experiments.field profile --model_size=small --batch_sizes=1,4,8,16 \
      --seq_lengths=128,256,512

Every command that reads data takes a local copy offline with --local_path=FILE
(for `ablation` over several datasets: --local_path=NAME=FILE,NAME=FILE).
Re-running `train` with the same --workdir resumes from its latest checkpoint.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from experiments import common
from fieldjax import analysis
from fieldjax import checkpoints
from fieldjax import datasets
from fieldjax import embeddings
from fieldjax import field as field_lib
from fieldjax import generation
from fieldjax import model as model_lib
from fieldjax import perturbations
from fieldjax import profiling
from fieldjax import tokenizers
from fieldjax import train as train_lib
from landauerjax import datasets as landauer_datasets
from landauerjax.core import workdir as workdir_lib

COMMANDS = ('train', 'generate', 'ablation', 'analyze', 'profile')
ABLATIONS = ('embedding_comparison',)

_DATA = flags.DEFINE_string('dataset', 'tiny_shakespeare', f'One of {datasets.DATASETS}.')
_LOCAL = flags.DEFINE_string('local_path', '', 'Offline copy of the dataset (see above).')
_DATA_DIR = flags.DEFINE_string('data_dir', '', 'TFDS data directory ("" = default).')
_TOKENIZER = flags.DEFINE_string('tokenizer', '', f'One of {tokenizers.KINDS}; "" picks '
                                 'char for tiny_shakespeare/local_text, else sentencepiece.')
_VOCAB = flags.DEFINE_integer('vocab_size', 8192, 'SentencePiece vocabulary size.',
                              lower_bound=8)
_WORKDIR = flags.DEFINE_string('workdir', '', 'Run directory (checkpoints, metrics.jsonl).')
_SIZE = flags.DEFINE_string('model_size', 'tiny', f'One of {sorted(model_lib.SIZES)}.')
_OVERRIDES = flags.DEFINE_string('model_overrides', '{}',
                                 'JSON of ModelConfig fields, e.g. \'{"feature_norm": 16, '
                                 '"field": {"num_steps": 0}}\'.')
_EMBEDDING = flags.DEFINE_string('embedding', 'golden', f'One of {embeddings.EMBEDDINGS}.')
_RULE = flags.DEFINE_string('hebbian_rule', 'contrastive', 'contrastive or plain.')
_DTYPE = flags.DEFINE_string('dtype', 'float32', f'One of {sorted(model_lib.DTYPES)}.')
_STEPS = flags.DEFINE_integer('num_steps', 2000, 'Hebbian steps.')
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Sequences per step.')
_SEQ = flags.DEFINE_integer('seq_len', 128, 'Tokens per sequence.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of params, batches and perturbations.')
_SCHEDULE = flags.DEFINE_string('perturbation_schedule', '{"0": "none"}',
                                'JSON {step: kind}, kinds ' + ', '.join(perturbations.KINDS))
_EVAL_EVERY = flags.DEFINE_integer('eval_every', 500, 'Steps between evaluations.')
_EVAL_MAX = flags.DEFINE_integer('eval_max_tokens', 0, 'Validation tokens (0 = all).')
_CKPT_EVERY = flags.DEFINE_integer('checkpoint_every', 500, 'Steps between checkpoints.')
# generate / analyze
_CHECKPOINT = flags.DEFINE_string('checkpoint', '', 'Run directory to load (default --workdir).')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step to load (default: the newest that '
                             'verifies); train resumes from it, moving newer ones to '
                             'WORKDIR/checkpoints_set_aside/.', lower_bound=0)
_ALLOW_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False, 'train: resume a workdir although the model, settings or '
    'data differ from its run (other than num_steps and the cadences, which may always change).')
_PERTURBATION = flags.DEFINE_string('perturbation', 'none', 'Perturbation during collapse.')
_TEMPERATURE = flags.DEFINE_float('temperature', 1.0, 'Sampling temperature (> 0).')
_TOP_K = flags.DEFINE_integer('top_k', 0, 'Sample among the k most likely tokens; 0 (or any k '
                              'at least the vocabulary size) samples among all.', lower_bound=0)
_MAX_NEW = flags.DEFINE_integer('max_new_tokens', 200, 'Tokens to generate.', lower_bound=1)
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


def _tokenizer_kind(dataset: str) -> str:
  if _TOKENIZER.value:
    return _TOKENIZER.value
  return 'char' if dataset in ('tiny_shakespeare', 'local_text') else 'sentencepiece'


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
    if name not in datasets.DATASETS:
      _fail(f'--local_path names unknown dataset {name!r}; expected one of {datasets.DATASETS}.')
    out[name] = path
  return out


def _model_config(vocab_size: int, **extra: Any) -> model_lib.ModelConfig:
  try:
    overrides = json.loads(_OVERRIDES.value)
  except json.JSONDecodeError as e:
    _fail(f'--model_overrides is not JSON ({e}): {_OVERRIDES.value!r}')
  if not isinstance(overrides, dict):
    _fail(f'--model_overrides must be a JSON object, got {_OVERRIDES.value!r}')
  nested = {'field': field_lib.FieldConfig, 'perturbation': perturbations.PerturbationConfig,
            'collapse': model_lib.collapse_lib.CollapseConfig}
  kwargs = {'embedding': _EMBEDDING.value, 'hebbian_rule': _RULE.value,
            'dtype': _DTYPE.value, **overrides, **extra}
  try:
    for name, cls in nested.items():
      if isinstance(kwargs.get(name), dict):
        kwargs[name] = cls(**kwargs[name])
    return model_lib.config_for_size(_SIZE.value, vocab_size, **kwargs)
  except (TypeError, ValueError) as e:
    _fail(f'Bad model setting: {e}')


def _train_config(**extra: Any) -> train_lib.TrainConfig:
  kwargs = dict(num_steps=_STEPS.value, batch_size=_BATCH.value, seq_len=_SEQ.value,
                seed=_SEED.value, perturbation_schedule=_SCHEDULE.value,
                eval_every=_EVAL_EVERY.value, eval_max_tokens=_EVAL_MAX.value,
                eval_stride=max(1, _SEQ.value // 2), checkpoint_every=_CKPT_EVERY.value)
  kwargs.update(extra)
  try:
    return train_lib.TrainConfig(**kwargs)
  except ValueError as e:
    _fail(f'Bad training setting: {e}')


def _load_data(dataset: str, local_path: str, cache_dir: str):
  return datasets.load_token_splits(
      dataset, _tokenizer_kind(dataset), local_path=local_path,
      data_dir=_DATA_DIR.value, vocab_size=_VOCAB.value, cache_dir=cache_dir)


STREAM_EVAL_TOKENS = 1_000_000  # Validation tokens of a streamed dataset, unless --eval_max_tokens.


def _streamed_data(dataset: str, local_path: str, cache_dir: str,
                   train_cfg: train_lib.TrainConfig):
  """(train() data kwargs, tokenizer) for a dataset streamed from TFDS."""
  kind = _tokenizer_kind(dataset)
  tokenizer = datasets.dataset_tokenizer(dataset, kind, local_path=local_path,
                                         data_dir=_DATA_DIR.value, vocab_size=_VOCAB.value,
                                         cache_dir=cache_dir)
  source = datasets.text_source(dataset, 'train', local_path=local_path,
                                data_dir=_DATA_DIR.value)

  def train_stream(state_json):
    state = datasets.PackerState.from_json(state_json) if state_json else None
    for windows, state in datasets.token_batches(source, tokenizer, train_cfg.batch_size,
                                                 train_cfg.seq_len, state=state, repeat=True):
      yield windows, state.to_json()

  limit = train_cfg.eval_max_tokens or STREAM_EVAL_TOKENS
  pieces, count = [], 0
  for doc in datasets.text_stream(dataset, 'validation', local_path=local_path,
                                  data_dir=_DATA_DIR.value):
    pieces.append(datasets.document_tokens(doc, tokenizer))
    count += len(pieces[-1])
    if count > limit:
      break
  validation = np.concatenate(pieces)[:limit + 1].astype(np.int32)
  return {'train_stream': train_stream, 'validation_tokens': validation}, tokenizer


def _require_workdir(command: str) -> str:
  if not _WORKDIR.value:
    _fail(f'{command} needs --workdir=DIR.')
  return _WORKDIR.value


def run_train(workdir: str, dataset: str, local_path: str, *,
              train_overrides: dict[str, Any] | None = None, **model_extra: Any
              ) -> dict[str, Any]:
  """Trains one run (also the body of each ablation cell); returns its run.json."""
  # Validates the schedule before any data is read.
  train_cfg = _train_config(**(train_overrides or {}))
  if _SIZE.value not in model_lib.SIZES:
    _fail(f'Unknown model size {_SIZE.value!r}; expected one of {sorted(model_lib.SIZES)}.')
  if dataset not in datasets.DATASETS:
    _fail(f'Unknown dataset {dataset!r}; expected one of {datasets.DATASETS}.')
  cache_dir = os.path.join(workdir, 'tokenizer')  # Made by the tokenizer when it caches.
  if dataset in datasets.IN_MEMORY_DATASETS:
    tokenizer, splits = _load_data(dataset, local_path, cache_dir)
    data = {'train_tokens': splits['train'], 'validation_tokens': splits['validation']}
    tokens_train = len(splits['train'])
  else:  # Too large to hold: stream the training split, evaluate on its first tokens.
    data, tokenizer = _streamed_data(dataset, local_path, cache_dir, train_cfg)
    tokens_train = None
  cfg = _model_config(tokenizer.vocab_size, **model_extra)
  meta = {'tokenizer': tokenizer.to_json(), 'dataset': dataset}
  if 'train_stream' in data:  # A stream is not hashed whole: its source and tokenizer are.
    data['data_fingerprint'] = workdir_lib.data_fingerprint(
        data['validation_tokens'], extra={'dataset': dataset, 'tokenizer': meta['tokenizer'],
                                          'local': _local_fingerprint(local_path)})
  info = {'params': model_lib.param_count(cfg), 'tokens_train': tokens_train,
          'tokenizer': tokenizer.kind, 'vocab_size': tokenizer.vocab_size, 'argv': sys.argv}
  train_lib.train(cfg, train_cfg, workdir=workdir, meta=meta, run_info=info,
                  allow_config_change=_ALLOW_CHANGE.value, resume_step=_STEP.value, **data)
  with open(os.path.join(workdir, train_lib.RUN_FILE)) as f:
    return json.load(f)


def _local_fingerprint(path: str) -> str:
  """sha256 of a local data file (or '' for none / a directory, hashed by its dataset)."""
  return landauer_datasets.local_sha256(path) if path and os.path.isfile(path) else ''


def cmd_train(args: list[str]) -> None:
  if args:
    _fail(f'train takes no positional arguments, got {args}.')
  run = run_train(_require_workdir('train'), _DATA.value, _LOCAL.value)
  print(json.dumps(run['final']))


def _load_checkpoint():
  directory = _CHECKPOINT.value or _WORKDIR.value
  if not directory:
    _fail('Needs --checkpoint=DIR (a train --workdir).')
  step, params, cfg, meta = checkpoints.load(directory, _STEP.value)
  return step, params, cfg, tokenizers.tokenizer_from_json(meta['tokenizer'])


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
  step, params, cfg, tokenizer = _load_checkpoint()
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
      key=jax.random.PRNGKey(_SEED.value), kind=_PERTURBATION.value,
      temperature=_TEMPERATURE.value, top_k=_TOP_K.value)
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
    step, params, cfg, tokenizer = _load_checkpoint()
    source = f'checkpoint step {step}'
  else:  # The field itself has no learned parameters except the masses.
    tokenizer = tokenizers.ByteTokenizer()
    cfg = _model_config(tokenizer.vocab_size)
    params = model_lib.init_params(cfg, jax.random.PRNGKey(_SEED.value))
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


def _markdown_and_json(path: str, markdown: str, payload: Any) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    f.write(markdown + '\n')
  with open(os.path.splitext(path)[0] + '.json', 'w') as f:
    json.dump(payload, f, indent=2)


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
    if d not in datasets.DATASETS:
      _fail(f'Unknown dataset {d!r}; expected one of {datasets.DATASETS}.')
  paths = _local_paths(_DATASETS.value)
  for name, path in paths.items():  # Given, so meant: a wrong path is a mistake, not a skip.
    if name in datasets.TEXT_FILE_DATASETS:
      landauer_datasets.check_data_file(path)
    elif not os.path.exists(path):
      _fail(f'--local_path for {name}: {path!r} does not exist.')
  rows = []
  for dataset in _DATASETS.value:
    for emb in _EMBEDDINGS.value:
      for kind in _PERTURBATIONS.value:
        cell = os.path.join(workdir, f'{dataset}-{emb}-{kind}')
        row = {'dataset': dataset, 'embedding': emb, 'perturbation': kind}
        try:
          run = run_train(cell, dataset, paths.get(dataset, ''), embedding=emb,
                          train_overrides={'perturbation_schedule': json.dumps({'0': kind})})
          row.update(val_ce=run['final']['val_ce'],
                     val_perplexity=run['final']['val_perplexity'],
                     wall_seconds=run['wall_seconds'], status='ok')
        except (FileNotFoundError, OSError) as e:  # e.g. no offline copy of the dataset.
          row.update(status=f'skipped: {e}')
          logging.warning('Cell %s skipped: %s', cell, e)
        rows.append(row)
  lines = [f'Ablation `{args[0]}`: {_STEPS.value} Hebbian steps of batch {_BATCH.value} x '
           f'{_SEQ.value}, model size {_SIZE.value}, seed {_SEED.value}; validation CE in '
           'nats/token (canonical split).', '',
           '| dataset | embedding | perturbation | val CE | perplexity | wall (s) |',
           '|---|---|---|---:|---:|---:|']
  for r in rows:
    if r['status'] == 'ok':
      lines.append(f"| {r['dataset']} | {r['embedding']} | {r['perturbation']} | "
                   f"{r['val_ce']:.4f} | {r['val_perplexity']:.2f} | {r['wall_seconds']:.0f} |")
    else:
      lines.append(f"| {r['dataset']} | {r['embedding']} | {r['perturbation']} | "
                   f"{r['status']} | | |")
  markdown = '\n'.join(lines)
  print(markdown)
  _markdown_and_json(_OUTPUT.value or os.path.join(workdir, 'ablation.md'), markdown,
                     {'argv': sys.argv, 'rows': rows})


def cmd_profile(args: list[str]) -> None:
  if args:
    _fail(f'profile takes no positional arguments, got {args}.')
  if _SIZE.value not in model_lib.SIZES:
    _fail(f'Unknown model size {_SIZE.value!r}; expected one of {sorted(model_lib.SIZES)}.')
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
      row = profiling.profile_cell(cfg, b, t, matmul_dtype=_DTYPE.value)
      logging.info('batch %d seq %d: %.0f tokens/s', b, t, row['tokens_per_sec'])
      rows.append(row)
  params = model_lib.param_count(cfg)
  header = (f'Field LM `{_SIZE.value}` ({params:,} parameters, vocabulary '
            f'{cfg.vocab_size}, {cfg.dtype}) on {jax.devices()[0].device_kind} '
            f'({jax.device_count()} device, {os.cpu_count()} CPUs): warm jitted Hebbian '
            f'step. "% of matmul" compares its FLOP rate with a dense {_DTYPE.value} '
            '2048^3 matmul timed in alternation with it (same rounds, same load).')
  markdown = header + '\n\n' + profiling.markdown_table(rows)
  print(markdown)
  # Never into the repository: the workdir, else the temp dir.
  output = _OUTPUT.value or os.path.join(_WORKDIR.value or tempfile.gettempdir(),
                                         f'profile_field_{_SIZE.value}.md')
  _markdown_and_json(output, markdown, {'argv': sys.argv, 'params': params, 'rows': rows,
                                        'model': cfg.to_json()})
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
  common.run(main, trains=lambda: sys.argv[1:2] == ['train'])


if __name__ == '__main__':
  cli()
