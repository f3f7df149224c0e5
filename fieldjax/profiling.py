"""Profiling: warm jitted Hebbian-step throughput, FLOPs, memory, machine FLOP/s."""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import model as model_lib
from fieldjax import perturbations
from fieldjax import train


def _time(fn, *args, repeats: int) -> float:
  """Median seconds per call of a warm function (after one warm-up call)."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def matmul_flops_per_sec(size: int = 2048, dtype: str = 'float32',
                         repeats: int = 5) -> float:
  """This machine's measured dense matmul rate, FLOP/s ([n, n] @ [n, n])."""
  kx, ky = jax.random.split(jax.random.PRNGKey(0))
  dt = model_lib.DTYPES[dtype]
  x = jax.random.normal(kx, (size, size), dt)
  y = jax.random.normal(ky, (size, size), dt)
  seconds = _time(jax.jit(jnp.matmul), x, y, repeats=repeats)
  return 2.0 * size ** 3 / seconds


def _cost(compiled: Any) -> dict[str, float]:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  memory = compiled.memory_analysis()
  peak = None
  if memory is not None:
    peak = (memory.argument_size_in_bytes + memory.output_size_in_bytes
            + memory.temp_size_in_bytes - memory.alias_size_in_bytes)
  return {'flops': float(cost.get('flops', float('nan'))) if cost else float('nan'),
          'peak_bytes': float(peak) if peak is not None else float('nan')}


def profile_cell(cfg: model_lib.ModelConfig, batch_size: int, seq_len: int, *,
                 kind: str = 'beta', repeats: int = 3) -> dict[str, Any]:
  """Warm throughput of one jitted Hebbian step on random windows.

  Returns tokens/s, seconds/step, FLOPs per step (XLA's cost analysis of the
  compiled step), achieved FLOP/s, and XLA's peak memory estimate (arguments
  + outputs + temporaries of the compiled step).
  """
  params = model_lib.init_params(cfg, jax.random.PRNGKey(0))
  windows = jax.random.randint(jax.random.PRNGKey(1), (batch_size, seq_len + 1), 0,
                               cfg.vocab_size, dtype=jnp.int32)
  kind_index = jnp.int32(perturbations.KINDS.index(kind))
  step = jax.jit(train.hebbian_step, static_argnames=('cfg',))
  key = jax.random.PRNGKey(2)
  compiled = step.lower(params, windows, key, kind_index, cfg=cfg).compile()
  cost = _cost(compiled)
  seconds = _time(lambda p: compiled(p, windows, key, kind_index), params,
                  repeats=repeats)
  tokens = batch_size * seq_len
  return {'batch_size': batch_size, 'seq_len': seq_len, 'seconds_per_step': seconds,
          'tokens_per_sec': tokens / seconds, 'flops_per_step': cost['flops'],
          'flops_per_sec': cost['flops'] / seconds, 'peak_memory_bytes': cost['peak_bytes']}


def markdown_table(rows: list[dict[str, Any]], matmul_rate: float) -> str:
  lines = ['| batch | seq | tokens/s | s/step | GFLOP/step | achieved GFLOP/s | '
           '% of matmul | peak memory (MiB) |',
           '|---:|---:|---:|---:|---:|---:|---:|---:|']
  for r in rows:
    lines.append(
        f"| {r['batch_size']} | {r['seq_len']} | {r['tokens_per_sec']:,.0f} | "
        f"{r['seconds_per_step']:.3f} | {r['flops_per_step'] / 1e9:.1f} | "
        f"{r['flops_per_sec'] / 1e9:.1f} | {100 * r['flops_per_sec'] / matmul_rate:.0f}% | "
        f"{r['peak_memory_bytes'] / 2**20:,.0f} |")
  return '\n'.join(lines)
