r"""Both models' speed and memory on whatever device JAX finds (made for one GPU).

  python -m scripts.benchmark_device            # the full run: ~3-8 minutes on a GPU
  python -m scripts.benchmark_device --quick    # smoke run, tiny sizes; writes nothing

Measures, warm (compilation timed apart), on random tokens (no dataset needed):
  * Landauer LM: training steps/s and chars/s of the jitted step of
    `landauer_original`, `landauer_original_bf16` and `landauer_best`
    (experiments/configs), and sampling chars/s (batch 1);
  * field LM: Hebbian training tokens/s of the `small`, `base` and `large`
    sizes at batch 32 x 128, XLA's FLOPs per step, the fraction of this
    device's measured dense matmul rate (float32 and bfloat16, 8192^2 on an
    accelerator) that the step reaches, and peak device memory
    (`memory_stats()['peak_bytes_in_use']` where the device reports it, sizes
    run smallest first; else XLA's estimate for the compiled step);
  * the original write-up's claims for an RTX 4090 beside the field rows.

Writes the raw numbers to --output_json and a Markdown table to --output_md
(between `<!-- benchmark_device:start/end -->` markers; the rest of the file is
kept), unless --quick.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags
import jax

from experiments import common
from fieldjax import model as field_model
from fieldjax import profiling
from landauerjax.core import timing
from scripts import benchmark_landauer as landauer_bench

LANDAUER_CONFIGS = ('landauer_original', 'landauer_original_bf16', 'landauer_best')
FIELD_SIZES = ('small', 'base', 'large')
# The original write-up, on one RTX 4090 (claims, not measured here).
CLAIMS = {'small': {'memory_gb': 2, 'tokens_per_s': 50_000},
          'base': {'memory_gb': 6, 'tokens_per_s': 15_000},
          'large': {'memory_gb': 12, 'tokens_per_s': 8_000}}
FIELD_VOCAB = 8192  # The sizes' subword vocabulary.

_QUICK = flags.DEFINE_bool('quick', False, 'Smoke run: tiny field sizes, few steps.')
_OUTPUT_MD = flags.DEFINE_string('output_md', 'docs/BENCHMARKS.md',
                                 "Markdown file whose marked section is replaced ('' = none).")
_OUTPUT_JSON = flags.DEFINE_string('output_json', 'docs/benchmarks_device.json',
                                   "Raw results as JSON ('' = none).")


def peak_device_bytes() -> float | None:
  """Peak bytes in use on device 0 since the process began, where the device reports it."""
  stats = jax.local_devices()[0].memory_stats() or {}
  peak = stats.get('peak_bytes_in_use')
  return float(peak) if peak is not None else None


def bench_field(size: str, quick: bool) -> dict[str, Any]:
  """One size's warm Hebbian step (fieldjax.profiling.profile_cell) and peak memory."""
  overrides = {'embed_dim': 16, 'lattice_dim': 256, 'lags': 4} if quick else {}
  cfg = field_model.config_for_size(size, FIELD_VOCAB, **overrides)
  on_cpu = jax.default_backend() == 'cpu'
  batch, seq = (2, 16) if quick else (32, 128)
  row = profiling.profile_cell(cfg, batch, seq, repeats=1 if quick else 5,
                               matmul_size=256 if quick or on_cpu else 8192)
  device_peak = peak_device_bytes()
  row.update(size=size, params=field_model.param_count(cfg),
             device_peak_bytes=device_peak,
             memory_source='device peak' if device_peak is not None else 'XLA estimate')
  gc.collect()
  return row


def run(quick: bool) -> dict[str, Any]:
  settings = landauer_bench.QUICK if quick else landauer_bench.Settings(repeats=5)
  on_accelerator = jax.default_backend() != 'cpu'
  peaks = {}
  for dtype in ('float32', 'bfloat16'):
    size = 256 if quick else (8192 if on_accelerator else 2048)
    peaks[dtype] = profiling.matmul_flops_per_sec(size, dtype, repeats=1 if quick else 5)
  field = [bench_field(size, quick) for size in FIELD_SIZES]  # Smallest first: peaks grow.
  landauer = [{**landauer_bench.bench_train(name, settings),
               'sampling': landauer_bench.bench_generate(name, settings)}
              for name in LANDAUER_CONFIGS]
  return {'machine': timing.machine_info(), 'devices': [str(d) for d in jax.devices()],
          'quick': quick, 'matmul_flops_per_s': peaks, 'landauer': landauer,
          'field': field, 'claims_rtx4090': CLAIMS}


def markdown(results: dict[str, Any]) -> str:
  m = results['machine']
  quick = ' QUICK RUN: tiny field sizes, one repeat; not comparable.' if results['quick'] else ''
  lines = [f"Measured {m['date_utc']} on {results['devices'][0]} ({m['jax_backend']}, "
           f"jax {m['jax']}); dense matmul {results['matmul_flops_per_s']['float32'] / 1e9:,.0f} "
           f"GFLOP/s float32, {results['matmul_flops_per_s']['bfloat16'] / 1e9:,.0f} "
           f"bfloat16.{quick}",
           '', '| Landauer config | params | batch x seq | ms/step | steps/s | chars/s '
           '| sampling chars/s |', '|---|---:|---:|---:|---:|---:|---:|']
  for r in results['landauer']:
    lines.append(f"| `{r['config']}` | {r['params']:,} | {r['batch_size']} x {r['seq_len']} | "
                 f"{r['ms_per_step']:.2f} | {1e3 / r['ms_per_step']:,.1f} | "
                 f"{r['chars_per_s']:,.0f} | {r['sampling']['chars_per_s']:,.0f} |")
  lines += ['', '| field size | params | tokens/s | GFLOP/step | % of float32 matmul | '
            'peak memory (GiB) | claimed tokens/s (4090) | ours / claimed | '
            'claimed memory (4090) |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
  for r in results['field']:
    peak = r['device_peak_bytes'] if r['device_peak_bytes'] is not None else r['peak_memory_bytes']
    claim = results['claims_rtx4090'][r['size']]
    lines.append(f"| {r['size']} | {r['params'] / 1e6:,.0f}M | {r['tokens_per_sec']:,.0f} | "
                 f"{r['flops_per_step'] / 1e9:,.1f} | {100 * r['fraction_of_matmul']:.0f}% | "
                 f"{peak / 2**30:.2f} ({r['memory_source']}) | {claim['tokens_per_s']:,} | "
                 f"{r['tokens_per_sec'] / claim['tokens_per_s']:.2f}x | ~{claim['memory_gb']} GB |")
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  results = run(_QUICK.value)
  table = markdown(results)
  print(table)
  if not _QUICK.value:
    common.write_benchmark(results, table, json_path=_OUTPUT_JSON.value,
                           md_path=_OUTPUT_MD.value, section='benchmark_device')


if __name__ == '__main__':
  common.run(main)
