"""Profiling the Landauer LM: warm train-step and sampling rates, FLOPs, memory.

What the benchmarks measure (`scripts/benchmark_landauer.py` on the CPU,
`scripts/benchmark_device.py` on a GPU), on random tokens and random
parameters: `time_train_step` (the jitted `train.make_train_step` of a config),
`time_sampling` (`sampling.generate`, batch 1), `sampling_memory` (peak resident
memory against the generated length), `time_torch_reference` (the original
PyTorch model, `landauerjax.torch_reference`, imported only there), and
`train_flops`, the matmul FLOPs of a train step counted from the config's shapes
(the field LM's: `fieldjax.profiling`). The CPU benchmark's records
(`benchmark_train`, `benchmark_generate`, as much as `CpuSettings` says), and its
section of docs/BENCHMARKS.md (`speedups`, `benchmark_markdown`); the device
benchmark's table of `time_train_step` rows (`step_table`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landauerjax import losses
from landauerjax import config_schema
from landauerjax import models
from landauerjax import sampling
from landauerjax import train
from landauerjax.core import memory
from landauerjax.core import reports
from landauerjax.core import timing

CORPUS_LEN = 200_000  # Random training tokens to draw windows from.


def matmul_weights(m: models.ModelConfig) -> tuple[int, int]:
  """(weights applied per token, weights applied once per sequence batch) of the
  matmuls of a `models.ModelConfig` (biases and elementwise work left out).

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


def train_flops(m: models.ModelConfig, batch_size: int, seq_len: int) -> float:
  """Matmul FLOPs of one train step (forward 2, backward 4 per weight and token)."""
  per_token, once = matmul_weights(m)
  return 6.0 * (per_token * batch_size * seq_len + once)


def random_tokens(vocab_size: int, n: int = CORPUS_LEN) -> jax.Array:
  """int32[n] uniform random tokens (NumPy seed 0): the benchmarks' training corpus."""
  return jnp.asarray(np.random.default_rng(0).integers(0, vocab_size, n), jnp.int32)


def random_model(config: Any, vocab_size: int, seed: int) -> tuple[models.LandauerLM, Any]:
  """(the model of an experiment config, its freshly initialised parameters)."""
  model_config = config_schema.model_config_from(config.model, vocab_size)
  return (models.LandauerLM(model_config),
          models.init_params(model_config, jax.random.PRNGKey(seed)))


def time_train_step(config: Any, vocab_size: int, *, repeats: int, repeat_s: float,
                    max_steps: int = 200) -> dict[str, Any]:
  """The jitted train step of an experiment config at its batch x window.

  Returns {'variant', 'matmul_dtype', 'params', 'batch_size', 'seq_len',
  'compile_s', the keys of `timing.time_steps` (but 'state'), 'tokens_per_s',
  'analytic_flops' (`train_flops`), 'loss' (the last step's), 'xla_flops',
  'xla_memory_bytes'}.
  """
  model_config = config_schema.model_config_from(config.model, vocab_size)
  model = models.LandauerLM(model_config)
  optimizer = train.make_optimizer(config.train)
  state = train.init_train_state(model_config, optimizer, config.seed)
  tokens_N = random_tokens(vocab_size)
  step = train.make_train_step(config, model, optimizer)
  compiled, compile_s, xla = timing.compile_timed(step, state, tokens_N)
  metrics: dict[str, Any] = {}

  def one(s: Any) -> Any:
    s, metrics['m'] = compiled(s, tokens_N)
    return s
  timed = timing.time_steps(one, state, repeats, repeat_s, max_steps=max_steps)
  state = timed.pop('state')
  batch, seq = config.train.batch_size, config.train.seq_len
  return {'variant': model_config.variant, 'matmul_dtype': model_config.matmul_dtype,
          'params': models.count_params(state['params']), 'batch_size': batch,
          'seq_len': seq, 'compile_s': compile_s, **timed,
          'tokens_per_s': batch * seq / timed['s_per_step'],
          'analytic_flops': train_flops(model_config, batch, seq),
          'loss': float(metrics['m']['loss']), **xla}


def time_sampling(params: Any, model: models.LandauerLM, num_chars: int, *, chunk: int,
                  repeats: int, first_chars: int | None = None) -> dict[str, Any]:
  """chars/s of `sampling.generate` (batch 1, temperature 1, prompt token 0).

  The first call (`first_chars`, default `num_chars`) compiles prefill and the
  chunk and is timed apart; then `repeats` timed calls of `num_chars`. Returns
  {'chars', 'chunk', 'first_call_s', 'chars_per_s' (median), 'timing'}.
  """
  def run(n: int) -> int:
    return sum(t.size for t in sampling.generate(
        params, model, np.zeros(1, np.int32), n, jax.random.PRNGKey(0), temperature=1.0,
        chunk=chunk))
  t0 = time.perf_counter()
  run(first_chars or num_chars)
  first_call_s = time.perf_counter() - t0
  [stats] = timing.time_calls([lambda: run(num_chars)], repeats, warmup=0)
  return {'chars': num_chars, 'chunk': chunk, 'first_call_s': first_call_s,
          'chars_per_s': num_chars / stats['median_s'], 'timing': stats}


def sampling_memory(params: Any, model: models.LandauerLM, num_chars: int, *,
                    chunk: int) -> dict[str, Any]:
  """Generates `num_chars`; the process's peak resident memory (MiB) after the first
  chunk (compiled, one chunk done) and at the end, and the rate after the first chunk.
  Meant for a fresh process (`landauerjax.core.fresh_process`)."""
  count, first, gen_start = 0, None, None
  for tokens in sampling.generate(params, model, np.zeros(1, np.int32), num_chars,
                                  jax.random.PRNGKey(0), temperature=1.0, chunk=chunk):
    count += tokens.size
    if first is None:
      first, gen_start = memory.peak_rss_mib(), time.perf_counter()
  end, peak = time.perf_counter(), memory.peak_rss_mib()
  return {'chars': count, 'peak_rss_first_chunk_mib': first['vmhwm'],
          'peak_rss_mib': peak['vmhwm'], 'ru_maxrss_first_chunk_mib': first['ru_maxrss'],
          'ru_maxrss_mib': peak['ru_maxrss'], 'generate_s': end - gen_start,
          'chars_per_s': (count - min(chunk, count)) / max(end - gen_start, 1e-9)}


def time_torch_reference(config: Any, vocab_size: int, threads: int, *, repeats: int,
                         train_steps: int, gen_chars: int
                         ) -> tuple[dict[str, Any], dict[str, Any]]:
  """The original PyTorch model of an `original` config at `threads` torch threads:
  (its training step, `train_steps` per timed repeat; its per-character sampling loop
  with `torch.multinomial`, `gen_chars` per repeat). Needs PyTorch."""
  import torch  # pylint: disable=g-import-not-at-top
  from landauerjax import torch_reference as ref  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(threads)
  m = config.model

  def model() -> Any:
    torch.manual_seed(config.seed)
    return ref.OriginalLandauerLM(vocab_size, m.embed_dim, m.hidden_dim, m.num_layers,
                                  m.phase_scaling, m.base_phase)
  trained = model().train()
  step = ref.make_train_step(
      trained, torch.from_numpy(np.random.default_rng(0).integers(0, vocab_size, CORPUS_LEN)),
      batch_size=config.train.batch_size, seq_len=config.train.seq_len,
      learning_rate=config.train.learning_rate, grad_clip=config.train.grad_clip,
      inertia_coefficient=losses.inertia_coefficient(config.train.energy_weight,
                                                    config.train.inertia_temperature))
  step_losses = [step() for _ in range(2)]  # Warm-up.
  [stats] = timing.time_calls([lambda: step_losses.extend(step() for _ in range(train_steps))],
                              repeats, warmup=0)
  chars = config.train.batch_size * config.train.seq_len
  info = {'config': 'original (PyTorch)', 'variant': 'original', 'torch_threads': threads}
  train_result = {**info, 'params': sum(p.numel() for p in trained.parameters()),
                  'batch_size': config.train.batch_size, 'seq_len': config.train.seq_len,
                  'last_loss': step_losses[-1], 'steps_per_repeat': train_steps,
                  'ms_per_step': 1e3 * stats['median_s'] / train_steps,
                  'ms_per_step_min': 1e3 * stats['min_s'] / train_steps,
                  'ms_per_step_max': 1e3 * stats['max_s'] / train_steps,
                  'chars_per_s': chars * train_steps / stats['median_s'], 'timing': stats}
  sampler = model().eval()
  [stats] = timing.time_calls([lambda: ref.sample(sampler, gen_chars)], repeats)
  return train_result, {**info, 'chars': gen_chars,
                        'chars_per_s': gen_chars / stats['median_s'], 'timing': stats}


def step_table(rows: list[dict[str, Any]]) -> list[str]:
  """Markdown lines of `time_train_step` rows, each with its 'row' name,
  'fraction_of_bf16_matmul' and, where sampling was timed, 'sampling' (the device
  benchmark's)."""
  return reports.markdown_table(
      ['Landauer row', 'params', 'batch × seq', 'compile (s)', 'ms/step [min–max]', 'chars/s',
       'GFLOP/step (analytic matmuls; XLA)', '% of bf16', 'sampling chars/s (batch 1)',
       'peak memory GiB (source)'],
      [[r['row'], f"{r['params']:,}", f"{r['batch_size']} × {r['seq_len']}",
        f"{r['compile_s']:.1f}", f"{r['ms_per_step']:.2f} [{r['ms_per_step_min']:.2f}–"
        f"{r['ms_per_step_max']:.2f}]", f"{r['tokens_per_s']:,.0f}",
        f"{r['analytic_flops'] / 1e9:,.2f}; {reports.cell(r['xla_flops'], ',.2f', 1e9)}",
        reports.cell(r['fraction_of_bf16_matmul'], '.2%'),
        reports.cell(r['sampling']['chars_per_s']) if r.get('sampling') else '—',
        memory.gib_cell(r)] for r in rows])


# ---------------------------------------------------------------------------
# The CPU benchmark (scripts/benchmark_landauer.py): its records and its report.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CpuSettings:
  """How much each measurement runs; the defaults are the full benchmark's."""
  repeats: int = 7  # Timed repeats per measurement (median).
  train_steps: int = 50  # Steps per training repeat (fewer where it would exceed ~train_repeat_s).
  train_repeat_s: float = 2.0
  torch_steps: int = 20  # Steps per training repeat of the original.
  gen_chars: int = 10_000  # Characters per generation repeat (ours).
  torch_gen_chars: int = 2_000  # Characters per generation repeat (the original).


def benchmark_train(name: str, config: Any, vocab_size: int, s: CpuSettings) -> dict[str, Any]:
  """The CPU benchmark's training record of config `name`: `time_train_step` with
  its keys of old ('last_loss', 'chars_per_s'); a non-finite loss raises."""
  r = time_train_step(config, vocab_size, repeats=s.repeats, repeat_s=s.train_repeat_s,
                      max_steps=s.train_steps)
  if not math.isfinite(r['loss']):
    raise FloatingPointError(f"{name}: non-finite loss {r['loss']} while benchmarking.")
  return {'config': name, 'variant': r['variant'], 'params': r['params'],
          'batch_size': r['batch_size'], 'seq_len': r['seq_len'], 'compile_s': r['compile_s'],
          'last_loss': r['loss'], 'steps_per_repeat': r['steps_per_repeat'],
          **{k: r[k] for k in ('ms_per_step', 'ms_per_step_min', 'ms_per_step_max')},
          'chars_per_s': r['tokens_per_s'], 'timing': r['timing']}


def benchmark_generate(name: str, config: Any, vocab_size: int, s: CpuSettings, *,
                       chunk: int) -> dict[str, Any]:
  """The CPU benchmark's generation record of config `name`: `time_sampling` of its
  model with random parameters (seed config.seed)."""
  model, params = random_model(config, vocab_size, config.seed)
  r = time_sampling(params, model, s.gen_chars, chunk=chunk, repeats=s.repeats,
                    first_chars=min(s.gen_chars, chunk))
  return {'config': name, 'variant': model.config.variant,
          **{k: r[k] for k in ('chars', 'first_call_s', 'chars_per_s', 'timing')}}


def speedups(results: dict[str, Any], same_as_original: Sequence[str]) -> dict[str, Any]:
  """Ours over the original's fastest thread setting, for the `same_as_original` configs
  (the original's model and training settings)."""
  if not results['torch_train']:
    return {}
  torch_ms = min(r['ms_per_step'] for r in results['torch_train'])
  torch_cps = max(r['chars_per_s'] for r in results['torch_generate'])
  out: dict[str, Any] = {'train': {}, 'train_hoisted': {}, 'generate': {},
                         'generate_hoisted': {}}
  for kind, key, ratio in (('train', 'ms_per_step', lambda v: torch_ms / v),
                           ('generate', 'chars_per_s', lambda v: v / torch_cps)):
    for r in results[kind]:
      if r['config'] in same_as_original:
        out[kind][r['config']] = ratio(r[key])
        hoisted = results['hoisted_loops'].get(r['config'])
        if hoisted:
          out[f'{kind}_hoisted'][r['config']] = ratio(hoisted[kind][key])
  return out


def benchmark_markdown(results: dict[str, Any]) -> str:
  """`scripts/benchmark_landauer.py`'s section of docs/BENCHMARKS.md from its results:
  a header line, the machine, and the tables."""
  m, hoisted, up = results['machine'], results['hoisted_loops'], results['speedups']

  def ms(r: dict[str, Any]) -> str:
    return f"{r['ms_per_step']:.1f} [{r['ms_per_step_min']:.1f}–{r['ms_per_step_max']:.1f}]"

  def x(kind: str, config: str) -> str:
    if config not in up.get(kind, {}):
      return '—'
    other = up[f'{kind}_hoisted'].get(config)
    return f'{up[kind][config]:.1f}×' + (f' ({other:.1f}×)' if other else '')
  lines = [
      '## Landauer LM on CPU: training, generation and memory', '',
      f"Written by `scripts/benchmark_landauer.py` on {m['date_utc']}"
      + (' — **`--quick` smoke run: not a benchmark.**' if results['settings']['quick'] else '.')
      + f" Command: `{results['command']}`. Machine: {m['cpu']}, {m['cpus_available']} of "
      f"{m['logical_cpus']} CPUs, load average at start "
      f"{' / '.join(map(str, m['load_average_at_start']))}; jax {m['jax']} ({m['jax_backend']}),"
      f" flax {m['flax']}, numpy {m['numpy']}, torch {m.get('torch') or 'not benchmarked'}.",
      '', '### Training (speed-up over the original\'s fastest thread setting; hoisted loops in '
      'brackets)', '']
  lines += reports.markdown_table(
      ['model', 'variant', 'params', 'batch × window', 'compile (s)', 'ms/step [min–max]',
       'chars/s', 'ms/step, hoisted loops', 'speed-up'],
      [[r['config'], r['variant'], f"{r['params']:,}", f"{r['batch_size']} × {r['seq_len']}",
        f"{r['compile_s']:.1f}", ms(r), f"{r['chars_per_s']:,.0f}",
        ms(hoisted[r['config']]['train']) if r['config'] in hoisted else '—',
        x('train', r['config'])] for r in results['train']]
      + [[f"original PyTorch, {r['torch_threads']} thread(s)", 'original', f"{r['params']:,}",
          f"{r['batch_size']} × {r['seq_len']}", '—', ms(r), f"{r['chars_per_s']:,.0f}", '—',
          '—'] for r in results['torch_train']], left=2)
  lines += ['### Generation (batch 1, temperature 1, random parameters)', '']
  lines += reports.markdown_table(
      ['model', 'variant', 'first call (s)', 'chars/s', 'chars/s, hoisted loops', 'speed-up'],
      [[r['config'], r['variant'], f"{r['first_call_s']:.1f}", f"{r['chars_per_s']:,.0f}",
        (f"{hoisted[r['config']]['generate']['chars_per_s']:,.0f}" if r['config'] in hoisted
         else '—'), x('generate', r['config'])] for r in results['generate']]
      + [[f"original PyTorch, {r['torch_threads']} thread(s)", 'original', '—',
          f"{r['chars_per_s']:,.0f}", '—', '—'] for r in results['torch_generate']], left=2)
  if results['memory']:
    lines += ['### Memory against generated length (landauer_original, fresh processes)', '']
    lines += reports.markdown_table(
        ['characters', 'process wall (s)', 'generation (s)', 'chars/s',
         'peak RSS after first chunk (MiB)', 'peak RSS at end (MiB)', 'ru_maxrss at end (MiB)'],
        [[f"{r['chars']:,}", f"{r['process_wall_s']:.1f}", f"{r['generate_s']:.1f}",
          f"{r['chars_per_s']:,.0f}", f"{r['peak_rss_first_chunk_mib']:.1f}",
          f"{r['peak_rss_mib']:.1f}", f"{r['ru_maxrss_mib']:.1f}"] for r in results['memory']],
        left=2)
  lines.append(f"Total benchmark time: {results['total_s']:.0f} s.")
  return '\n'.join(lines)
