"""Profiling: warm jitted Hebbian-step throughput, FLOPs, memory, machine FLOP/s."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from fieldjax import model as model_lib
from fieldjax import perturbations
from fieldjax import hebbian
from landauerjax.core import memory
from landauerjax.core import reports
from landauerjax.core import timing


def _step_inputs(cfg: model_lib.ModelConfig, batch_size: int, seq_len: int, kind: str
                 ) -> tuple[Any, ...]:
  """(params, random windows [B, T + 1], key, perturbation index) of one Hebbian step."""
  params = model_lib.init_params(cfg, jax.random.PRNGKey(0))
  windows = jax.random.randint(jax.random.PRNGKey(1), (batch_size, seq_len + 1), 0,
                               cfg.vocab_size, dtype=jnp.int32)
  return params, windows, jax.random.PRNGKey(2), jnp.int32(perturbations.KINDS.index(kind))


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
  params, windows, key, kind_index = _step_inputs(cfg, batch_size, seq_len, kind)
  step = jax.jit(hebbian.hebbian_step, static_argnames=('cfg',))
  compiled, _, xla = timing.compile_timed(step, params, windows, key, kind_index, cfg=cfg)
  cost = {'flops': math.nan if xla['xla_flops'] is None else xla['xla_flops'],
          'peak_bytes': math.nan if xla['xla_memory_bytes'] is None
                        else xla['xla_memory_bytes']}
  matmul, matmul_flops = timing.matmul_call(matmul_size, matmul_dtype)
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


def time_hebbian_step(cfg: model_lib.ModelConfig, batch_size: int, seq_len: int, *,
                      repeats: int, repeat_s: float) -> dict[str, Any]:
  """The device benchmark's row: compile seconds, warm ms/step (`timing.time_steps`,
  Beta perturbations, the parameters donated as in training), tokens/s, analytic and
  XLA FLOPs, this process's peak device memory, and the step's CE."""
  params, windows, key, kind = _step_inputs(cfg, batch_size, seq_len, 'beta')
  step = jax.jit(hebbian.hebbian_step, static_argnames=('cfg',), donate_argnums=0)
  compiled, compile_s, xla = timing.compile_timed(step, params, windows, key, kind, cfg=cfg)
  timed = timing.time_steps(lambda p: compiled(p, windows, key, kind)[0], params, repeats,
                            repeat_s)
  del timed['timing']
  ce = float(compiled(timed.pop('state'), windows, key, kind)[1]['ce'])
  flops = field_step_flops(cfg, batch_size, seq_len)
  return {'params': model_lib.param_count(cfg), 'dtype': cfg.dtype, 'batch_size': batch_size,
          'seq_len': seq_len, 'vocab_size': cfg.vocab_size, 'compile_s': compile_s, **timed,
          'tokens_per_s': batch_size * seq_len / timed['s_per_step'],
          'analytic_flops': flops['total'], 'analytic_matmul_flops': flops['matmul'],
          **xla, **memory.peak_device_memory(xla['xla_memory_bytes']), 'ce': ce}


def step_table(rows: list[dict[str, Any]]) -> list[str]:
  """Markdown lines of `time_hebbian_step` rows, each with its 'row' name,
  'fraction_of_bf16_matmul' and, for a size of the original write-up, its
  'claim_rtx4090' and 'tokens_per_s_over_claim' (the device benchmark's)."""
  return reports.markdown_table(
      ['field row', 'params', 'batch × seq', 'compile (s)', 'ms/step', 'tokens/s',
       'GFLOP/step (analytic; XLA)', '% of bf16', 'peak memory GiB (source)',
       '4090 claim tokens/s', 'ours / claim', '4090 claim memory'],
      [[r['row'], f"{r['params'] / 1e6:,.1f}M", f"{r['batch_size']} × {r['seq_len']}",
        f"{r['compile_s']:.1f}", f"{r['ms_per_step']:.2f}", f"{r['tokens_per_s']:,.0f}",
        f"{r['analytic_flops'] / 1e9:,.1f}; {reports.cell(r['xla_flops'], ',.1f', 1e9)}",
        reports.cell(r['fraction_of_bf16_matmul'], '.1%'), memory.gib_cell(r)]
       + ([f"{c['tokens_per_s']:,}", f"{r['tokens_per_s_over_claim']:.2f}×",
           f"~{c['memory_gb']} GB"] if (c := r.get('claim_rtx4090')) else ['—'] * 3)
       for r in rows])


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


# ---------------------------------------------------------------------------
# Analytic FLOP counts (from the config's shapes; XLA's cost analysis may be
# missing on a GPU and counts a loop's body once).
# ---------------------------------------------------------------------------

# Elementwise FLOPs per entry of the step's large intermediates, counted from the code
# (adds, multiplies, compares; a transcendental counts as 1). Estimates: the matmul
# terms are exact, these set the rest (a few % of the total at the benchmark's sizes).
_PER_GRAVITY_PAIR = 19  # field.gravity_matrix + the row sum, per (query, key) pair
# (XLA's count of field.field_step alone: 18.3 at d = 8, 20.5 at d = 64).
_PER_SITE_RESPONSE = 9  # relu(c P + b), centring, norm, scale, per lattice site.
_PER_LOGIT = 10  # prior, log_softmax, exp, error, per (position, token).
_PER_RECALL_PAIR = 10  # recall's distance, pull, mask, sum, per (query, key) pair.
_PER_RECALL_VOTE = 8  # recall's normalise, log, centre, gain, per (position, token).


def field_step_flops(cfg: model_lib.ModelConfig, batch_size: int, seq_len: int
                     ) -> dict[str, float]:
  """FLOPs of one `hebbian.hebbian_step` on [batch_size, seq_len + 1] windows, by shape.

  A multiply-add counts 2. Returns {'matmul': the dot products' FLOPs (exact),
  'elementwise': an estimate of the rest, 'total': their sum, and each matmul's
  part by name}. With N = B T positions, d the embedding, D the lattice sites,
  F = (K + J) d the lattice input, V the vocabulary:
    field   S steps x B x (T padded to chunks) x keys x d x 4 (distances, pull);
    lattice 2 N F D;  readout 2 N D d + 2 N d V;  contrastive post 2 N V d;
    crystal update 2 N D d;  instar 2 N F D;  sites 2 N O V;
    recall  B x (2 T^2 (1 + J_r) d + 2 T^2 V).
  """
  b, t, d, v = batch_size, seq_len, cfg.embed_dim, cfg.vocab_size
  n, sites_d = b * t, cfg.lattice_dim
  f = (cfg.lags + cfg.field.trace_scales) * d
  chunk = min(cfg.field.chunk, t)
  num_chunks = -(-t // chunk)
  keys = min(chunk + cfg.field.window, num_chunks * chunk)
  pairs = cfg.field.num_steps * b * num_chunks * chunk * keys
  parts = {'field': 4.0 * pairs * d, 'lattice': 2.0 * n * f * sites_d,
           'readout': 2.0 * n * sites_d * d + 2.0 * n * d * v,
           'crystal_update': 2.0 * n * sites_d * d}
  if cfg.hebbian_rule == 'contrastive':
    parts['postsynaptic'] = 2.0 * n * v * d
  if cfg.lattice_rule == 'instar':
    parts['instar'] = 2.0 * n * f * sites_d
  orders = len(cfg.sites.orders) if cfg.sites.enabled else 0
  if orders:
    parts['sites'] = 2.0 * n * orders * v
  recall_pairs = b * t * t if cfg.recall.enabled else 0
  if recall_pairs:
    parts['recall'] = 2.0 * recall_pairs * (1 + cfg.recall.trace_scales) * d + 2.0 * recall_pairs * v
  matmul = sum(parts.values())
  elementwise = (_PER_GRAVITY_PAIR * pairs + _PER_SITE_RESPONSE * n * sites_d
                 + _PER_LOGIT * n * v + 3.0 * sites_d * d + 2.0 * n * orders * v
                 + _PER_RECALL_PAIR * recall_pairs
                 + (_PER_RECALL_VOTE * n * v if recall_pairs else 0))
  return {'matmul': matmul, 'elementwise': float(elementwise),
          'total': matmul + elementwise, **{f'matmul_{k}': x for k, x in parts.items()}}
