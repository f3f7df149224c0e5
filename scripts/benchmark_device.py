r"""Both models' speed and memory on one GPU, in one run of < 8 minutes.

On the lent GPU machine, one call of the device tool (docs/BENCHMARKS.md, "GPU"):

  bash scripts/device_kit.sh               # here, once: the wheels the image lacks, in .whl/
  device run: command "bash scripts/gpu_benchmark.sh", carry [".whl"], timeout_s 560

scripts/gpu_benchmark.sh installs the kit offline (pip --no-index --target /tmp/site),
records nvidia-smi and the package versions, then runs
`python3 -m scripts.benchmark_device --output_json=$OUT/bench.json
--output_md=$OUT/bench.md`; scripts/rehearse_device.sh runs that same command on the
CPU, offline, with the image's versions (CI's device lane).

  python -m scripts.benchmark_device --quick   # smoke run, tiny sizes, any backend;
                                               # writes only the files named by flags

Rows (`--rows` picks some; each runs in a fresh process, so its peak memory counts
nothing of the rows before it, and one row failing -- out of memory, an unsupported
op -- records its error and the run goes on):

  matmul                      the device's dense matmul rate, 8192^3 in bfloat16 and
                              float32 (the reference of every '% of bf16' below);
  field_{small,base,large}_{float32,bfloat16}
                              the field LM's Hebbian step (`fieldjax.train.hebbian_step`,
                              Beta perturbations) at batch 32 x 128, vocabulary 8192,
                              beside the original write-up's RTX 4090 claims;
  field_best                  experiments/configs/field_best.py (characters, sparse
                              sites, recall) at its own batch 32 x 128;
  landauer_original, landauer_original_bf16, landauer_best
                              the Landauer LM's jitted train step at the config's
                              batch x window, and sampling chars/s at batch 1;
  landauer_best_nanogpt       landauer_best at nanoGPT's budget, 5000 steps of
                              64 x 256: projected wall = compile + 5000 x s/step.

Per row: compile seconds (a persistent compilation cache, --compilation_cache_dir,
makes a rerun skip them), ms/step (median of repeats, warm), tokens/s, the
ANALYTIC FLOPs per step from the config's shapes (`fieldjax.profiling.
field_step_flops`, `landauer_train_flops` here; XLA's cost analysis beside it where
the backend has one -- it counts a loop's body once), achieved FLOP/s as a fraction
of the measured bf16 matmul rate, and peak device memory
(`memory_stats()['peak_bytes_in_use']` in the row's process; where the device
reports none, as on the CPU, XLA's `memory_analysis()` estimate of the compiled
step, marked so).

Time (estimated for one H100, cold compilation cache; analytic FLOPs per step at ~30%
of 790 TFLOP/s bf16): field small 0.47 TFLOP ~2 ms, base 3.2 TFLOP ~13 ms, large 6.8
TFLOP ~29 ms (float32 at the float32/TF32 rate: 2-10x longer); field_best 0.02 TFLOP
(bound by copying its 545 MB site table, ~1 ms); the Landauer steps (1-150 GFLOP) are
latency-bound scans, ~5-50 ms. Timing: two warm-up steps, then 5 repeats of ~0.4 s, so
3-5 s per row. Each row also costs ~10 s of process start (imports, CUDA) and 10-40 s
of compilation (the Landauer rows compile sampling too). Per row: matmul ~15 s, each
field size/dtype ~30-35 s, field_best ~35 s, each Landauer row ~45 s, the nanoGPT row
~35 s: ~410 s in all, cold; a rerun with the cache warm saves most compiles. Rows
that would start after --time_budget_s (360 s) are skipped and marked so (rows run in
the order above), and a row's process is stopped after --row_timeout_s (150 s) or 60 s
past the budget, so the run ends before ~7 minutes whatever happens.

Results go to --output_json and --output_md (a standalone Markdown file: the tables
for docs/BENCHMARKS.md) after every row, so a run stopped midway keeps what it
measured. Without a GPU the script stops with one `error:` line unless --quick.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags
from absl import logging

from experiments import common
from landauerjax.core import errors

FIELD_SIZES = ('small', 'base', 'large')
FIELD_DTYPES = ('float32', 'bfloat16')
FIELD_ROWS = tuple(f'field_{s}_{d}' for s in FIELD_SIZES for d in FIELD_DTYPES)
LANDAUER_ROWS = ('landauer_original', 'landauer_original_bf16', 'landauer_best')
NANOGPT_ROW = 'landauer_best_nanogpt'
ROWS = ('matmul', *FIELD_ROWS, 'field_best', *LANDAUER_ROWS, NANOGPT_ROW)
# The original write-up, on one RTX 4090 (claims, not measured here).
CLAIMS = {'small': {'params': 50e6, 'memory_gb': 2, 'tokens_per_s': 50_000},
          'base': {'params': 350e6, 'memory_gb': 6, 'tokens_per_s': 15_000},
          'large': {'params': 750e6, 'memory_gb': 12, 'tokens_per_s': 8_000}}
FIELD_VOCAB = 8192  # The sizes' subword vocabulary.
CHAR_VOCAB = 65  # Tiny Shakespeare's characters (field_best, the Landauer rows).
FIELD_SHAPE = (32, 128)  # batch x seq of the field size rows.
NANOGPT = {'steps': 5000, 'batch_size': 64, 'seq_len': 256}
PLUGINS = ('jax', 'jaxlib', 'jax-cuda13-plugin', 'jax-cuda13-pjrt', 'jax-cuda12-plugin',
           'jax-cuda12-pjrt', 'flax', 'optax', 'numpy', 'ml-collections')
# For tests: a row named here (comma-separated) raises inside its child process.
FAIL_ROWS_ENV = 'BENCHMARK_DEVICE_FAIL_ROWS'
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_QUICK = flags.DEFINE_bool('quick', False,
                           'Smoke run on any backend: tiny sizes, one repeat; writes only '
                           'the files that --output_json / --output_md name.')
_ROWS = flags.DEFINE_list('rows', list(ROWS), f'Rows to run, of {", ".join(ROWS)}.')
_OUTPUT_JSON = flags.DEFINE_string('output_json', 'docs/benchmark_device.json',
                                   "Raw results as JSON ('' = none).")
_OUTPUT_MD = flags.DEFINE_string('output_md', 'docs/benchmark_device.md',
                                 "The tables as a standalone Markdown file ('' = none).")
# The device tool lends 15 minutes in all, start included: a cold run must end by ~7
# minutes so that a rerun on the warm machine (compiles cached) still fits.
_TIME_BUDGET = flags.DEFINE_float('time_budget_s', 360.0,
                                  'Rows that would start after this many seconds are '
                                  'skipped (and marked so).')
# The row running when the budget is spent may go on this long past it.
BUDGET_GRACE_S = 60.0
_ROW_TIMEOUT = flags.DEFINE_float('row_timeout_s', 150.0,
                                  "A row's process is stopped after this many seconds.")
_CACHE_DIR = flags.DEFINE_string(
    'compilation_cache_dir', os.path.join('~', '.cache', 'landauer_field_jax', 'jax_cache'),
    "JAX's persistent compilation cache ('' = off): a rerun skips compilation.")


# ---------------------------------------------------------------------------
# Analytic FLOPs of the Landauer train step (the field step's: fieldjax.profiling).
# ---------------------------------------------------------------------------


def landauer_matmul_weights(m: Any) -> tuple[int, int]:
  """(weights applied per token, weights applied once per sequence batch) of the
  matmuls of a `landauerjax.models.ModelConfig` (biases and elementwise work left out).

  original/lstm/gru gather layer 0's drive from a [V, H] table computed once per
  call (`LandauerLM._first_drive`): its V E G weights count once, not per token.
  """
  v, h, layers = m.vocab_size, m.hidden_dim, m.num_layers
  if m.variant == 'phasor':
    d, n = m.model_dim, h
    per_layer = d * 2 * n + 2 * n * d + d * 2 * m.mlp_ratio * d + m.mlp_ratio * d * d
    return layers * per_layer + d * v, 0
  gates = {'original': 1, 'lstm': 4, 'gru': 3}[m.variant]
  recurrent = h * gates * h if m.variant != 'original' else 0  # w_hh, per step.
  per_token = (layers - 1) * h * gates * h + layers * recurrent + h * v
  return per_token, v * m.embed_dim * gates * h


def landauer_train_flops(m: Any, batch_size: int, seq_len: int) -> float:
  """Matmul FLOPs of one train step (forward 2, backward 4 per weight and token)."""
  per_token, once = landauer_matmul_weights(m)
  return 6.0 * (per_token * batch_size * seq_len + once)


# ---------------------------------------------------------------------------
# The device, the versions.
# ---------------------------------------------------------------------------


def _versions() -> dict[str, str | None]:
  out = {}
  for name in PLUGINS:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      out[name] = None
  return out


def nvidia_smi() -> dict[str, Any]:
  """GPU name, driver, memory and CUDA version from nvidia-smi; {} without it."""
  info: dict[str, Any] = {}
  try:
    query = subprocess.run(
        ['nvidia-smi', '--query-gpu=name,driver_version,memory.total',
         '--format=csv,noheader'], capture_output=True, text=True, timeout=20, check=False)
    if query.returncode == 0 and query.stdout.strip():
      name, driver, memory = [s.strip() for s in
                              query.stdout.strip().splitlines()[0].split(',')][:3]
      info.update(gpu=name, driver_version=driver, memory_total=memory)
    plain = subprocess.run(['nvidia-smi'], capture_output=True, text=True, timeout=20,
                           check=False)
    cuda = re.search(r'CUDA Version:\s*([\d.]+)', plain.stdout)
    if cuda:
      info['cuda_version'] = cuda.group(1)
  except (OSError, subprocess.SubprocessError, ValueError) as e:
    info['nvidia_smi_error'] = f'{type(e).__name__}: {e}'
  return info


def _platform_version(device: Any) -> str | None:
  try:
    return str(device.client.platform_version)
  except Exception:  # pylint: disable=broad-except  # Not every jax has it.
    return None


def device_info() -> dict[str, Any]:
  """Backend, device kind, versions, nvidia-smi, host; initialises the JAX backend."""
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  return {'backend': jax.default_backend(), 'device_kind': device.device_kind,
          'device': str(device), 'device_count': jax.device_count(),
          'platform_version': _platform_version(device),
          'versions': _versions(), 'nvidia_smi': nvidia_smi(),
          'python': platform.python_version(), 'host_cpus': os.cpu_count(),
          'date_utc': datetime.datetime.now(datetime.timezone.utc).strftime(
              '%Y-%m-%d %H:%M UTC')}


# ---------------------------------------------------------------------------
# The rows (each runs in its own child process).
# ---------------------------------------------------------------------------


def _compile(jitted: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, dict[str, Any]]:
  """(compiled, compile seconds, XLA's FLOPs and memory estimate where it has them)."""
  t0 = time.perf_counter()
  compiled = jitted.lower(*args, **kwargs).compile()
  seconds = time.perf_counter() - t0
  xla: dict[str, Any] = {'xla_flops': None, 'xla_memory_bytes': None}
  try:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
      cost = cost[0] if cost else None
    if cost and cost.get('flops') is not None:
      xla['xla_flops'] = float(cost['flops'])
  except Exception:  # pylint: disable=broad-except  # Not every backend has one.
    pass
  try:
    m = compiled.memory_analysis()
    if m is not None:
      xla['xla_memory_bytes'] = float(m.argument_size_in_bytes + m.output_size_in_bytes
                                      + m.temp_size_in_bytes - m.alias_size_in_bytes)
  except Exception:  # pylint: disable=broad-except
    pass
  return compiled, seconds, xla


def _peak_memory(xla: dict[str, Any]) -> dict[str, Any]:
  """This process's peak device bytes, or XLA's estimate where the device has no stats."""
  import jax  # pylint: disable=g-import-not-at-top
  try:
    stats = jax.local_devices()[0].memory_stats() or {}
  except Exception:  # pylint: disable=broad-except
    stats = {}
  if stats.get('peak_bytes_in_use') is not None:
    return {'peak_memory_bytes': float(stats['peak_bytes_in_use']),
            'memory_source': 'device peak'}
  return {'peak_memory_bytes': xla['xla_memory_bytes'], 'memory_source': 'XLA estimate'}


def _time_steps(step: Any, state: Any, repeats: int, repeat_s: float) -> dict[str, Any]:
  """Warm seconds per step of `state = step(state)`: two warm-up steps, then
  `repeats` repeats of k steps (k from the second warm-up, ~repeat_s per repeat)."""
  import jax  # pylint: disable=g-import-not-at-top
  from landauerjax.core import timing  # pylint: disable=g-import-not-at-top
  for _ in range(2):
    t0 = time.perf_counter()
    state = jax.block_until_ready(step(state))
    warm_s = time.perf_counter() - t0
  steps = max(1, min(200, round(repeat_s / max(warm_s, 1e-6))))
  box = [state]

  def run() -> Any:
    for _ in range(steps):
      box[0] = step(box[0])
    return box[0]
  [stats] = timing.time_calls([run], repeats, warmup=0)
  s = stats['median_s'] / steps
  return {'s_per_step': s, 'ms_per_step': 1e3 * s, 'steps_per_repeat': steps,
          'repeats': repeats, 'ms_per_step_min': 1e3 * stats['min_s'] / steps,
          'ms_per_step_max': 1e3 * stats['max_s'] / steps, 'state': box[0]}


def matmul_flops_per_sec(size: int, dtype: str, repeats: int) -> float:
  """Measured [n, n] @ [n, n] rate (as fieldjax.profiling's, on JAX alone: this row
  must run where the models' modules fail to import)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from landauerjax.core import timing  # pylint: disable=g-import-not-at-top
  kx, ky = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, (size, size), jnp.dtype(dtype))
  y = jax.random.normal(ky, (size, size), jnp.dtype(dtype))
  matmul = jax.jit(jnp.matmul)
  [stats] = timing.time_calls([lambda: matmul(x, y)], repeats, warmup=2)
  return 2.0 * size ** 3 / stats['median_s']


def row_matmul(spec: dict[str, Any]) -> dict[str, Any]:
  size = 256 if spec['quick'] else 8192
  rates = {dtype: matmul_flops_per_sec(size, dtype, 1 if spec['quick'] else 10)
           for dtype in ('bfloat16', 'float32')}
  return {'size': size, 'bf16_flops_per_s': rates['bfloat16'],
          'f32_flops_per_s': rates['float32'], 'device_info': device_info()}


def _field(spec: dict[str, Any], cfg: Any, batch: int, seq: int) -> dict[str, Any]:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from fieldjax import model as field_model  # pylint: disable=g-import-not-at-top
  from fieldjax import perturbations  # pylint: disable=g-import-not-at-top
  from fieldjax import profiling  # pylint: disable=g-import-not-at-top
  from fieldjax import train as field_train  # pylint: disable=g-import-not-at-top
  params = field_model.init_params(cfg, jax.random.PRNGKey(0))
  windows = jax.random.randint(jax.random.PRNGKey(1), (batch, seq + 1), 0, cfg.vocab_size,
                               dtype=jnp.int32)
  kind = jnp.int32(perturbations.KINDS.index('beta'))
  key = jax.random.PRNGKey(2)
  # Donated as in training (fieldjax.train): the update writes into the params' buffers.
  step = jax.jit(field_train.hebbian_step, static_argnames=('cfg',), donate_argnums=0)
  compiled, compile_s, xla = _compile(step, params, windows, key, kind, cfg=cfg)
  timed = _time_steps(lambda p: compiled(p, windows, key, kind)[0], params,
                      spec['repeats'], spec['repeat_s'])
  ce = float(compiled(timed.pop('state'), windows, key, kind)[1]['ce'])
  flops = profiling.field_step_flops(cfg, batch, seq)
  return {'params': field_model.param_count(cfg), 'dtype': cfg.dtype, 'batch_size': batch,
          'seq_len': seq, 'vocab_size': cfg.vocab_size, 'compile_s': compile_s, **timed,
          'tokens_per_s': batch * seq / timed['s_per_step'],
          'analytic_flops': flops['total'], 'analytic_matmul_flops': flops['matmul'],
          **xla, **_peak_memory(xla), 'ce': ce}


def row_field(spec: dict[str, Any]) -> dict[str, Any]:
  from fieldjax import model as field_model  # pylint: disable=g-import-not-at-top
  _, size, dtype = spec['row'].split('_')
  overrides = {'embed_dim': 16, 'lattice_dim': 256, 'lags': 4} if spec['quick'] else {}
  cfg = field_model.config_for_size(size, FIELD_VOCAB, dtype=dtype, **overrides)
  batch, seq = (2, 16) if spec['quick'] else FIELD_SHAPE
  result = _field(spec, cfg, batch, seq)
  claim = CLAIMS[size]
  return {**result, 'size': size, 'claim_rtx4090': claim,
          'tokens_per_s_over_claim': result['tokens_per_s'] / claim['tokens_per_s'],
          'memory_over_claim': (result['peak_memory_bytes'] / (claim['memory_gb'] * 1e9)
                                if result['peak_memory_bytes'] else None)}


def row_field_best(spec: dict[str, Any]) -> dict[str, Any]:
  from experiments.configs import field_best  # pylint: disable=g-import-not-at-top
  from fieldjax import train as field_train  # pylint: disable=g-import-not-at-top
  config = field_best.get_config()
  if spec['quick']:
    config.model.sites.table_bits = 10
    config.model.lattice_dim = 256
  cfg = field_train.model_config_from(config.model, CHAR_VOCAB)
  batch, seq = ((2, 16) if spec['quick'] else
                (config.train.batch_size, config.train.seq_len))
  return _field(spec, cfg, batch, seq)


def row_landauer(spec: dict[str, Any]) -> dict[str, Any]:
  """The train step of a Landauer config (random characters), and its sampling."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from landauerjax import models  # pylint: disable=g-import-not-at-top
  from landauerjax import sampling  # pylint: disable=g-import-not-at-top
  from landauerjax import train as landauer_train  # pylint: disable=g-import-not-at-top
  from landauerjax.core import timing  # pylint: disable=g-import-not-at-top
  row, quick = spec['row'], spec['quick']
  nanogpt = row == NANOGPT_ROW
  name = 'landauer_best' if nanogpt else row
  config = importlib.import_module(f'experiments.configs.{name}').get_config()
  if nanogpt:
    config.train.batch_size, config.train.seq_len = NANOGPT['batch_size'], NANOGPT['seq_len']
  if quick:
    config.train.batch_size, config.train.seq_len = 2, 16
  model_config = landauer_train.model_config_from(config, CHAR_VOCAB)
  model = models.LandauerLM(model_config)
  optimizer = landauer_train.make_optimizer(config.train)
  state = landauer_train.init_train_state(model_config, optimizer, config.seed)
  tokens_N = jnp.asarray(np.random.default_rng(0).integers(0, CHAR_VOCAB, 200_000), jnp.int32)
  step = landauer_train.make_train_step(config, model, optimizer)
  compiled, compile_s, xla = _compile(step, state, tokens_N)
  metrics: dict[str, Any] = {}

  def one(s: Any) -> Any:
    s, metrics['m'] = compiled(s, tokens_N)
    return s
  batch, seq = config.train.batch_size, config.train.seq_len
  timed = _time_steps(one, state, spec['repeats'], spec['repeat_s'])
  del timed['state']
  result = {'config': name, 'variant': model_config.variant,
            'matmul_dtype': model_config.matmul_dtype,
            'params': models.count_params(state['params']), 'batch_size': batch,
            'seq_len': seq, 'compile_s': compile_s, **timed,
            'tokens_per_s': batch * seq / timed['s_per_step'],
            'analytic_flops': landauer_train_flops(model_config, batch, seq),
            'loss': float(metrics['m']['loss']), **xla, **_peak_memory(xla)}
  if nanogpt:
    result['projected'] = {'steps': NANOGPT['steps'], 'batch_size': batch, 'seq_len': seq,
                           'wall_s': compile_s + NANOGPT['steps'] * timed['s_per_step']}
    return result
  params = models.init_params(model_config, jax.random.PRNGKey(0))
  chars, chunk = (64, 32) if quick else (4096, 256)

  def generate() -> int:
    return sum(t.size for t in sampling.generate(
        params, model, np.zeros(1, np.int32), chars, jax.random.PRNGKey(0),
        temperature=1.0, chunk=chunk))
  t0 = time.perf_counter()
  generate()  # Compiles prefill and the chunk.
  first_s = time.perf_counter() - t0
  [stats] = timing.time_calls([generate], max(1, spec['repeats'] // 2 + 1), warmup=0)
  result['sampling'] = {'chars': chars, 'chunk': chunk, 'first_call_s': first_s,
                        'chars_per_s': chars / stats['median_s']}
  result.update(_peak_memory(xla))  # Now including sampling.
  return result


def _row_function(row: str) -> Any:
  if row == 'matmul':
    return row_matmul
  if row in FIELD_ROWS:
    return row_field
  if row == 'field_best':
    return row_field_best
  return row_landauer


def _use_compilation_cache(cache_dir: str) -> str:
  """Turns on JAX's persistent compilation cache; says how it went (never raises)."""
  if not cache_dir:
    return 'off'
  import jax  # pylint: disable=g-import-not-at-top
  notes = []
  for name, value in (('jax_compilation_cache_dir', cache_dir),
                      ('jax_persistent_cache_min_compile_time_secs', 0.0),
                      ('jax_persistent_cache_min_entry_size_bytes', 0)):
    try:
      jax.config.update(name, value)
    except Exception as e:  # pylint: disable=broad-except  # An option this jax lacks.
      notes.append(f'{name}: {type(e).__name__}: {e}')
  return cache_dir + (f' ({"; ".join(notes)})' if notes else '')


def child(spec_json: str, out_path: str) -> None:
  """One row in this (fresh) process; writes {'ok', 'result' | 'error'} to out_path."""
  spec = json.loads(spec_json)
  t0 = time.perf_counter()
  try:
    cache_note = _use_compilation_cache(spec['cache_dir'])
    if spec['row'] in os.environ.get(FAIL_ROWS_ENV, '').split(','):
      raise RuntimeError(f'{FAIL_ROWS_ENV} names {spec["row"]}: failing on purpose.')
    out = {'ok': True, 'result': {**_row_function(spec['row'])(spec),
                                  'compilation_cache': cache_note}}
  except Exception as e:  # pylint: disable=broad-except  # Recorded; the parent goes on.
    out = {'ok': False, 'error': f'{type(e).__name__}: {e}'[:2000],
           'traceback': traceback.format_exc()[-4000:]}
  out['child_s'] = time.perf_counter() - t0
  with open(out_path, 'w') as f:
    json.dump(out, f)


# ---------------------------------------------------------------------------
# The parent: runs each row in a child process, writes after every row.
# ---------------------------------------------------------------------------


def run_row(spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
  """`child(spec)` in a new interpreter: {'row', 'status': ok|error|timeout, ...}."""
  code = ('import sys; from scripts import benchmark_device as b; '
          'b.child(sys.argv[1], sys.argv[2])')
  env = dict(os.environ)
  env.pop('XLA_PYTHON_CLIENT_PREALLOCATE', None)  # Set for the parent only.
  with tempfile.TemporaryDirectory() as tmp:
    out_path = os.path.join(tmp, 'row.json')
    t0 = time.perf_counter()
    try:
      done = subprocess.run([sys.executable, '-c', code, json.dumps(spec), out_path],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=max(timeout_s, 1.0), check=False)
    except subprocess.TimeoutExpired:
      return {'row': spec['row'], 'status': 'timeout', 'wall_s': time.perf_counter() - t0,
              'error': f'stopped after {timeout_s:.0f} s (--row_timeout_s / --time_budget_s)'}
    wall = time.perf_counter() - t0
    if not os.path.exists(out_path):  # Killed (e.g. host OOM) or crashed in C++.
      return {'row': spec['row'], 'status': 'error', 'wall_s': wall,
              'error': f'child exited {done.returncode} without a result: '
                       + done.stderr.strip()[-1500:]}
    with open(out_path) as f:
      out = json.load(f)
  if out['ok']:
    return {'row': spec['row'], 'status': 'ok', 'wall_s': wall, 'child_s': out['child_s'],
            **out['result']}
  return {'row': spec['row'], 'status': 'error', 'wall_s': wall, 'error': out['error'],
          'traceback': out['traceback']}


def _fmt(x: Any, spec: str = ',.0f', scale: float = 1.0) -> str:
  return '—' if x is None else format(x / scale, spec)


def _fraction(r: dict[str, Any], bf16: float | None) -> float | None:
  if not bf16 or r.get('status') != 'ok' or not r.get('analytic_flops'):
    return None
  return r['analytic_flops'] / r['s_per_step'] / bf16


def _memory(r: dict[str, Any]) -> str:
  if r.get('peak_memory_bytes') is None:
    return '—'
  return f"{r['peak_memory_bytes'] / 2**30:.2f} ({r['memory_source']})"


def render_markdown(results: dict[str, Any]) -> str:
  """A standalone Markdown file: the device, the matmul rates, two tables, the failures."""
  rows = {r['row']: r for r in results['rows']}
  info = results.get('device_info') or {}
  smi = info.get('nvidia_smi') or {}
  versions = info.get('versions') or {}
  mm = rows.get('matmul', {})
  bf16 = mm.get('bf16_flops_per_s') if mm.get('status') == 'ok' else None
  lines = ['# Device benchmark (`scripts/benchmark_device.py`)', '']
  if results['quick']:
    lines += ['**`--quick` smoke run: tiny sizes, one repeat; not a benchmark.**', '']
  lines += [
      f"Measured {info.get('date_utc', results['started_utc'])} on "
      f"{smi.get('gpu') or info.get('device_kind', '?')} ({info.get('backend', '?')}; driver "
      f"{smi.get('driver_version', '—')}, CUDA {smi.get('cuda_version', '—')}, memory "
      f"{smi.get('memory_total', '—')}); jax {versions.get('jax')}, jaxlib "
      f"{versions.get('jaxlib')}, plugin "
      f"{versions.get('jax-cuda13-plugin') or versions.get('jax-cuda12-plugin') or '—'}. "
      f"Command: `{results['command']}`. Total {results['total_s']:.0f} s.", '']
  if bf16:
    lines += [f"Dense matmul {mm['size']}^3: bfloat16 {bf16 / 1e12:,.1f} TFLOP/s, float32 "
              f"{mm['f32_flops_per_s'] / 1e12:,.1f} TFLOP/s (the reference of '% of bf16').",
              '']
  field = [rows[n] for n in (*FIELD_ROWS, 'field_best') if rows.get(n, {}).get('status') == 'ok']
  if field:
    lines += ['| field row | params | batch × seq | compile (s) | ms/step | tokens/s | '
              'GFLOP/step (analytic; XLA) | % of bf16 | peak memory GiB (source) | '
              '4090 claim tokens/s | ours / claim | 4090 claim memory |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in field:
      claim = r.get('claim_rtx4090')
      frac = _fraction(r, bf16)
      lines.append(
          f"| {r['row']} | {r['params'] / 1e6:,.1f}M | {r['batch_size']} × {r['seq_len']} | "
          f"{r['compile_s']:.1f} | {r['ms_per_step']:.2f} | {r['tokens_per_s']:,.0f} | "
          f"{r['analytic_flops'] / 1e9:,.1f}; {_fmt(r['xla_flops'], ',.1f', 1e9)} | "
          f"{_fmt(frac, '.1%')} | {_memory(r)} | "
          + (f"{claim['tokens_per_s']:,} | {r['tokens_per_s_over_claim']:.2f}× | "
             f"~{claim['memory_gb']} GB |" if claim else '— | — | — |'))
    lines.append('')
  landauer = [rows[n] for n in (*LANDAUER_ROWS, NANOGPT_ROW)
              if rows.get(n, {}).get('status') == 'ok']
  if landauer:
    lines += ['| Landauer row | params | batch × seq | compile (s) | ms/step [min–max] | '
              'chars/s | GFLOP/step (analytic matmuls; XLA) | % of bf16 | sampling chars/s '
              '(batch 1) | peak memory GiB (source) |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in landauer:
      sampling = r.get('sampling')
      lines.append(
          f"| {r['row']} | {r['params']:,} | {r['batch_size']} × {r['seq_len']} | "
          f"{r['compile_s']:.1f} | {r['ms_per_step']:.2f} [{r['ms_per_step_min']:.2f}–"
          f"{r['ms_per_step_max']:.2f}] | {r['tokens_per_s']:,.0f} | "
          f"{r['analytic_flops'] / 1e9:,.2f}; {_fmt(r['xla_flops'], ',.2f', 1e9)} | "
          f"{_fmt(_fraction(r, bf16), '.2%')} | "
          f"{_fmt(sampling['chars_per_s']) if sampling else '—'} | {_memory(r)} |")
    lines.append('')
    if rows.get(NANOGPT_ROW, {}).get('status') == 'ok':
      p = rows[NANOGPT_ROW]['projected']
      lines += [f"`landauer_best` at nanoGPT's budget ({p['steps']:,} steps of "
                f"{p['batch_size']} × {p['seq_len']}): projected wall time {p['wall_s']:.0f} s "
                f"({p['wall_s'] / 60:.1f} min) = compile + {p['steps']:,} × warm s/step.", '']
  missing = [r for r in results['rows'] if r['status'] != 'ok']
  if missing:
    lines += ['Rows without a result:', '']
    lines += [f"* `{r['row']}`: {r['status']}"
              + (f" — {r['error'].splitlines()[0][:300]}" if r.get('error') else '')
              for r in missing]
    lines.append('')
  return '\n'.join(lines)


def _public(r: dict[str, Any], bf16: float | None) -> dict[str, Any]:
  return {**r, 'fraction_of_bf16_matmul': _fraction(r, bf16)}


def write_outputs(results: dict[str, Any], json_path: str, md_path: str) -> None:
  """Both files, rewritten whole (called after every row)."""
  mm = next((r for r in results['rows'] if r['row'] == 'matmul' and r['status'] == 'ok'), {})
  bf16 = mm.get('bf16_flops_per_s')
  data = {**results, 'rows': [_public(r, bf16) for r in results['rows']]}
  for path, text in ((json_path, json.dumps(data, indent=2) + '\n'),
                     (md_path, render_markdown(results) + '\n')):
    if path:
      os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
      with open(path + '.tmp', 'w') as f:
        f.write(text)
      os.replace(path + '.tmp', path)


def _summary(r: dict[str, Any]) -> str:
  if r['status'] != 'ok':
    return f"{r['row']}: {r['status']} ({r.get('error', '').splitlines()[0][:200] if r.get('error') else ''})"
  if r['row'] == 'matmul':
    return (f"matmul: {r['size']}^3, bf16 {r['bf16_flops_per_s'] / 1e12:.2f} TFLOP/s, "
            f"f32 {r['f32_flops_per_s'] / 1e12:.2f} TFLOP/s")
  return (f"{r['row']}: compile {r['compile_s']:.1f} s, {r['ms_per_step']:.2f} ms/step, "
          f"{r['tokens_per_s']:,.0f} tokens/s, {r['analytic_flops'] / 1e9:,.2f} GFLOP/step, "
          f"peak {_memory(r)} GiB, row wall {r['wall_s']:.0f} s")


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  unknown = [r for r in _ROWS.value if r not in ROWS]
  if unknown:
    raise errors.UserError(f'--rows: unknown {unknown}; known: {", ".join(ROWS)}.')
  quick = _QUICK.value
  logging.set_verbosity(logging.WARNING)  # Hides JAX's backend-probing INFO lines.
  # The parent only asks which backend there is: it must not hold GPU memory the rows need.
  os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'] = 'false'
  import jax  # pylint: disable=g-import-not-at-top
  backend = jax.default_backend()
  if backend != 'gpu' and not quick:
    found = ', '.join(f'{k} {v}' for k, v in _versions().items() if v and k.startswith('jax'))
    raise errors.UserError(
        f'this benchmark is for a GPU and JAX found {backend} only ({found}); run it on a '
        f'GPU machine with a jax-cuda*-plugin matching jax, or pass --quick for a smoke run.')
  json_path = _OUTPUT_JSON.value if not quick or _OUTPUT_JSON.present else ''
  md_path = _OUTPUT_MD.value if not quick or _OUTPUT_MD.present else ''
  cache = os.path.expanduser(_CACHE_DIR.value) if _CACHE_DIR.value else ''
  t_start = time.perf_counter()
  results: dict[str, Any] = {
      'command': ' '.join(['python -m scripts.benchmark_device', *sys.argv[1:]]),
      'quick': quick, 'started_utc': datetime.datetime.now(datetime.timezone.utc).strftime(
          '%Y-%m-%d %H:%M UTC'),
      'settings': {'rows': list(_ROWS.value), 'time_budget_s': _TIME_BUDGET.value,
                   'row_timeout_s': _ROW_TIMEOUT.value, 'compilation_cache_dir': cache,
                   'field_shape': FIELD_SHAPE, 'nanogpt': NANOGPT},
      'claims_rtx4090': CLAIMS, 'device_info': device_info(), 'rows': [], 'total_s': 0.0}
  info = results['device_info']
  smi = info['nvidia_smi']
  print(f"benchmark_device on {smi.get('gpu') or info['device_kind']} ({info['backend']}, "
        f"jax {info['versions']['jax']}, driver {smi.get('driver_version', '—')}, CUDA "
        f"{smi.get('cuda_version', '—')})" + (' -- QUICK RUN' if quick else ''), flush=True)
  spec_base = {'quick': quick, 'cache_dir': cache, 'repeats': 1 if quick else 5,
               'repeat_s': 0.05 if quick else 0.4}
  for row in [r for r in ROWS if r in _ROWS.value]:
    elapsed = time.perf_counter() - t_start
    if elapsed > _TIME_BUDGET.value:
      result = {'row': row, 'status': 'skipped',
                'error': f'--time_budget_s={_TIME_BUDGET.value:g} spent ({elapsed:.0f} s)'}
    else:
      timeout = min(_ROW_TIMEOUT.value, _TIME_BUDGET.value + BUDGET_GRACE_S - elapsed)
      result = run_row({**spec_base, 'row': row}, timeout)
    results['rows'].append(result)
    results['total_s'] = time.perf_counter() - t_start
    write_outputs(results, json_path, md_path)
    print(_summary(result), flush=True)
  print(render_markdown(results), flush=True)
  for path in (json_path, md_path):
    if path:
      print(f'Wrote {path}.')


if __name__ == '__main__':
  common.run(main)
