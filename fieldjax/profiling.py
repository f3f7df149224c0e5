"""Profiling: warm jitted Hebbian-step throughput, FLOPs, memory, machine FLOP/s."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fieldjax import model as model_lib
from fieldjax import perturbations
from fieldjax import train
from landauerjax.core import timing


def _matmul(size: int, dtype: str) -> tuple[Any, float]:
  """A warm-able [n, n] @ [n, n] call and its FLOPs."""
  kx, ky = jax.random.split(jax.random.PRNGKey(0))
  dt = model_lib.DTYPES[dtype]
  x = jax.random.normal(kx, (size, size), dt)
  y = jax.random.normal(ky, (size, size), dt)
  matmul = jax.jit(jnp.matmul)
  return (lambda: matmul(x, y)), 2.0 * size ** 3


def matmul_flops_per_sec(size: int = 2048, dtype: str = 'float32',
                         repeats: int = 5) -> float:
  """This machine's measured dense matmul rate, FLOP/s ([n, n] @ [n, n])."""
  fn, flops = _matmul(size, dtype)
  return flops / timing.time_calls([fn], repeats)[0]['median_s']


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
                 kind: str = 'beta', repeats: int = 3, matmul_size: int = 2048,
                 matmul_dtype: str = 'float32') -> dict[str, Any]:
  """Warm throughput of one jitted Hebbian step on random windows.

  Returns tokens/s, seconds/step, FLOPs per step (XLA's cost analysis of the
  compiled step), achieved FLOP/s, XLA's peak memory estimate (arguments +
  outputs + temporaries of the compiled step), and the dense matmul rate
  (`matmul_size`^3 in `matmul_dtype`) measured in alternation with the step,
  so that 'fraction_of_matmul' compares two rates taken under the same load.
  """
  params = model_lib.init_params(cfg, jax.random.PRNGKey(0))
  windows = jax.random.randint(jax.random.PRNGKey(1), (batch_size, seq_len + 1), 0,
                               cfg.vocab_size, dtype=jnp.int32)
  kind_index = jnp.int32(perturbations.KINDS.index(kind))
  step = jax.jit(train.hebbian_step, static_argnames=('cfg',))
  key = jax.random.PRNGKey(2)
  compiled = step.lower(params, windows, key, kind_index, cfg=cfg).compile()
  cost = _cost(compiled)
  matmul, matmul_flops = _matmul(matmul_size, matmul_dtype)
  step_timing, matmul_timing = timing.time_calls(
      [lambda: compiled(params, windows, key, kind_index), matmul], repeats)
  seconds, matmul_seconds = step_timing['median_s'], matmul_timing['median_s']
  tokens = batch_size * seq_len
  flops_per_sec = cost['flops'] / seconds
  matmul_rate = matmul_flops / matmul_seconds
  return {'batch_size': batch_size, 'seq_len': seq_len, 'seconds_per_step': seconds,
          'tokens_per_sec': tokens / seconds, 'flops_per_step': cost['flops'],
          'flops_per_sec': flops_per_sec, 'peak_memory_bytes': cost['peak_bytes'],
          'matmul_flops_per_sec': matmul_rate,
          'fraction_of_matmul': flops_per_sec / matmul_rate}


def markdown_table(rows: list[dict[str, Any]]) -> str:
  """One row per `profile_cell` result; '% of matmul' is against the matmul rate
  measured in alternation with that cell's step."""
  lines = ['| batch | seq | tokens/s | s/step | GFLOP/step | achieved GFLOP/s | '
           'matmul GFLOP/s (same rounds) | % of matmul | peak memory (MiB) |',
           '|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
  for r in rows:
    lines.append(
        f"| {r['batch_size']} | {r['seq_len']} | {r['tokens_per_sec']:,.0f} | "
        f"{r['seconds_per_step']:.3f} | {r['flops_per_step'] / 1e9:.1f} | "
        f"{r['flops_per_sec'] / 1e9:.1f} | {r['matmul_flops_per_sec'] / 1e9:.1f} | "
        f"{100 * r['fraction_of_matmul']:.0f}% | {r['peak_memory_bytes'] / 2**20:,.0f} |")
  return '\n'.join(lines)
