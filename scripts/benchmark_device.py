r"""Both models' speed and memory on one GPU, in one run of < 8 minutes.

On the lent GPU machine, one call of the device tool (docs/BENCHMARKS.md, "GPU"):

  bash scripts/device_kit.sh               # here, once: the wheels the image lacks, in .whl/
  device run: command "bash scripts/gpu_benchmark.sh", carry [".whl"], timeout_s 560

That runs `python3 -m scripts.benchmark_device --output_json=$OUT/bench.json
--output_md=$OUT/bench.md`; scripts/rehearse_device.sh runs it on the CPU, offline,
with the image's versions (CI's device lane).

  python -m scripts.benchmark_device --quick   # smoke run, tiny sizes, any backend;
                                               # writes only the files named by flags

Rows (ROWS; `--rows` picks some), each in a fresh process (its peak memory counts
no other row; a row that fails is recorded and the run goes on): `matmul`, the
dense 8192^3 matmul rate in bfloat16 and float32 (the reference of '% of bf16');
the field LM's Hebbian step (`fieldjax.profiling.time_hebbian_step`) at each size
and dtype, batch 32 x 128, vocabulary 8192, beside the original write-up's RTX
4090 claims, and `field_best`; the Landauer LM's train step and sampling
(`landauerjax.profiling`), and `landauer_best` at nanoGPT's budget, projected.
Per row: compile seconds (cached in --compilation_cache_dir), warm ms/step,
tokens/s, analytic FLOPs (XLA's beside them), their rate as a fraction of bf16
matmul, peak device memory. A row that would start after --time_budget_s is
skipped, a row is stopped after --row_timeout_s or 60 s past the budget, and both
files are rewritten after every row. Without a GPU: one `error:` line, unless --quick.
"""

from __future__ import annotations

import datetime
import importlib
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags
from absl import logging

from experiments import common
from landauerjax.core import errors
from landauerjax.core import fresh_process
from landauerjax.core import memory
from landauerjax.core import reports
from landauerjax.core import timing

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


def row_matmul(spec: dict[str, Any]) -> dict[str, Any]:
  """On JAX alone (landauerjax.core): this row must run where the models fail to import."""
  size = 256 if spec['quick'] else 8192
  rates = {dtype: timing.matmul_flops_per_sec(size, dtype, 1 if spec['quick'] else 10,
                                              warmup=2) for dtype in ('bfloat16', 'float32')}
  return {'size': size, 'bf16_flops_per_s': rates['bfloat16'],
          'f32_flops_per_s': rates['float32'], 'device_info': timing.device_info()}


def row_field(spec: dict[str, Any]) -> dict[str, Any]:
  from fieldjax import model as field_model  # pylint: disable=g-import-not-at-top
  from fieldjax import profiling  # pylint: disable=g-import-not-at-top
  _, size, dtype = spec['row'].split('_')
  overrides = {'embed_dim': 16, 'lattice_dim': 256, 'lags': 4} if spec['quick'] else {}
  cfg = field_model.config_for_size(size, FIELD_VOCAB, dtype=dtype, **overrides)
  batch, seq = (2, 16) if spec['quick'] else FIELD_SHAPE
  result = profiling.time_hebbian_step(cfg, batch, seq, repeats=spec['repeats'],
                                       repeat_s=spec['repeat_s'])
  claim = CLAIMS[size]
  return {**result, 'size': size, 'claim_rtx4090': claim,
          'tokens_per_s_over_claim': result['tokens_per_s'] / claim['tokens_per_s'],
          'memory_over_claim': (result['peak_memory_bytes'] / (claim['memory_gb'] * 1e9)
                                if result['peak_memory_bytes'] else None)}


def row_field_best(spec: dict[str, Any]) -> dict[str, Any]:
  from experiments.configs import field_best  # pylint: disable=g-import-not-at-top
  from fieldjax import config_schema as field_schema  # pylint: disable=g-import-not-at-top
  from fieldjax import profiling  # pylint: disable=g-import-not-at-top
  config = field_best.get_config()
  if spec['quick']:
    config.model.sites.table_bits, config.model.lattice_dim = 10, 256
  cfg = field_schema.model_config_from(config.model, CHAR_VOCAB)
  batch, seq = (2, 16) if spec['quick'] else (config.train.batch_size, config.train.seq_len)
  return profiling.time_hebbian_step(cfg, batch, seq, repeats=spec['repeats'],
                                     repeat_s=spec['repeat_s'])


def row_landauer(spec: dict[str, Any]) -> dict[str, Any]:
  """The train step of a Landauer config (random characters), and its sampling."""
  from landauerjax import profiling  # pylint: disable=g-import-not-at-top
  from landauerjax.core import memory  # pylint: disable=g-import-not-at-top
  row, quick = spec['row'], spec['quick']
  nanogpt = row == NANOGPT_ROW
  name = 'landauer_best' if nanogpt else row
  config = importlib.import_module(f'experiments.configs.{name}').get_config()
  if nanogpt:
    config.train.batch_size, config.train.seq_len = NANOGPT['batch_size'], NANOGPT['seq_len']
  if quick:
    config.train.batch_size, config.train.seq_len = 2, 16
  result = profiling.time_train_step(config, CHAR_VOCAB, repeats=spec['repeats'],
                                     repeat_s=spec['repeat_s'])
  del result['timing']
  result = {'config': name, **result, **memory.peak_device_memory(result['xla_memory_bytes'])}
  if nanogpt:
    result['projected'] = {'steps': NANOGPT['steps'], 'batch_size': result['batch_size'],
                           'seq_len': result['seq_len'], 'wall_s': result['compile_s']
                           + NANOGPT['steps'] * result['s_per_step']}
    return result
  model, params = profiling.random_model(config, CHAR_VOCAB, 0)
  chars, chunk = (64, 32) if quick else (4096, 256)
  sampling = profiling.time_sampling(params, model, chars, chunk=chunk,
                                     repeats=max(1, spec['repeats'] // 2 + 1))
  result['sampling'] = {k: sampling[k] for k in ('chars', 'chunk', 'first_call_s',
                                                 'chars_per_s')}
  result.update(memory.peak_device_memory(result['xla_memory_bytes']))  # With sampling.
  return result


def child(spec: dict[str, Any]) -> dict[str, Any]:
  """One row, in a fresh process (`landauerjax.core.fresh_process`)."""
  from landauerjax.core import compile_cache  # pylint: disable=g-import-not-at-top
  cache = spec['cache_dir'] and compile_cache.enable(spec['cache_dir'])
  if spec['row'] in os.environ.get(FAIL_ROWS_ENV, '').split(','):
    raise RuntimeError(f'{FAIL_ROWS_ENV} names {spec["row"]}: failing on purpose.')
  row = spec['row']
  function = (row_matmul if row == 'matmul' else row_field if row in FIELD_ROWS
              else row_field_best if row == 'field_best' else row_landauer)
  return {**function(spec), 'compilation_cache': cache or 'off'}


def run_row(spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
  """`child(spec)` in a new interpreter: {'row', 'status': ok|error|timeout, ...}."""
  env = dict(os.environ)
  env.pop('XLA_PYTHON_CLIENT_PREALLOCATE', None)  # Set for the parent only.
  out = fresh_process.run('scripts.benchmark_device:child', spec, cwd=REPO_ROOT,
                          timeout_s=max(timeout_s, 1.0), env=env)
  if out['status'] == 'timeout':
    out['error'] += ' (--row_timeout_s / --time_budget_s)'
  result = out.pop('result', {})
  return {'row': spec['row'], **out, **result}


def _fraction(r: dict[str, Any], bf16: float | None) -> float | None:
  if not bf16 or r.get('status') != 'ok' or not r.get('analytic_flops'):
    return None
  return r['analytic_flops'] / r['s_per_step'] / bf16


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
  ok = lambda names: [{**rows[n], 'fraction_of_bf16_matmul': _fraction(rows[n], bf16)}
                      for n in names if rows.get(n, {}).get('status') == 'ok']
  if field := ok((*FIELD_ROWS, 'field_best')):
    from fieldjax import profiling as field_profiling  # pylint: disable=g-import-not-at-top
    lines += field_profiling.step_table(field)
  if landauer := ok((*LANDAUER_ROWS, NANOGPT_ROW)):
    from landauerjax import profiling  # pylint: disable=g-import-not-at-top
    lines += profiling.step_table(landauer)
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


def write_outputs(results: dict[str, Any], json_path: str, md_path: str) -> None:
  """Both files, rewritten whole (called after every row)."""
  mm = next((r for r in results['rows'] if r['row'] == 'matmul' and r['status'] == 'ok'), {})
  bf16 = mm.get('bf16_flops_per_s')
  data = {**results, 'rows': [{**r, 'fraction_of_bf16_matmul': _fraction(r, bf16)}
                              for r in results['rows']]}
  reports.write_json(json_path, data, indent=2)
  if md_path:
    reports.write_text(md_path, render_markdown(results) + '\n')


def _summary(r: dict[str, Any]) -> str:
  if r['status'] != 'ok':
    return f"{r['row']}: {r['status']} ({r.get('error', '').splitlines()[0][:200] if r.get('error') else ''})"
  if r['row'] == 'matmul':
    return (f"matmul: {r['size']}^3, bf16 {r['bf16_flops_per_s'] / 1e12:.2f} TFLOP/s, "
            f"f32 {r['f32_flops_per_s'] / 1e12:.2f} TFLOP/s")
  return (f"{r['row']}: compile {r['compile_s']:.1f} s, {r['ms_per_step']:.2f} ms/step, "
          f"{r['tokens_per_s']:,.0f} tokens/s, {r['analytic_flops'] / 1e9:,.2f} GFLOP/step, "
          f"peak {memory.gib_cell(r)} GiB, row wall {r['wall_s']:.0f} s")


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
    found = ', '.join(f'{k} {v}' for k, v in timing.package_versions().items()
                      if v and k.startswith('jax'))
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
      'claims_rtx4090': CLAIMS, 'device_info': timing.device_info(), 'rows': [], 'total_s': 0.0}
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
