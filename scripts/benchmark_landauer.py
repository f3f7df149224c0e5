r"""CPU throughput and memory of the Landauer LM, ours (JAX) against the original (PyTorch).

Usage (from the repository root, on a quiet machine):

  python -m scripts.benchmark_landauer            # the full run, ~5 minutes
  python -m scripts.benchmark_landauer --quick    # smoke run; writes nothing

It measures, warm (compilation is timed separately) and as the median of
several repeats:

  a. training: ms per optimiser step and characters/s of the jitted
     `train.make_train_step` for each `--configs` entry (experiments/configs),
     at the config's own batch and window, on random tokens of a 65-character
     vocabulary (no dataset needed);
  b. the original PyTorch model (`tests/torch_reference.OriginalLandauerLM`)
     at the seed defaults (batch 32, window 64, embedding 64, hidden 256,
     2 layers, Adam 3e-3, clip 1.0, CE + 0.1 * 0.05 * ln(phi) * mean squared
     velocity of the top states), trained with a per-time-step Python loop as
     the original does;
  c. generation (characters/s, batch 1, temperature 1): `sampling.generate`
     (compiled, chunked) per config, and the original's style, a Python loop
     that calls the torch model once per character and samples with
     `torch.multinomial`;
  d. peak resident memory (MiB) and wall time of generating `--memory_lengths`
     characters with `sampling.generate` (seed config, random parameters), each
     in a fresh subprocess: memory must not grow with the length.

a and c run with XLA's default settings (as `experiments.train_landauer` does).
With `--compare_hoisted_loops` (the default) they are measured again, per
config in a fresh subprocess, with each `lax.scan` compiled as one function
(`landauerjax.xla_cpu` at `--small_loop_bytes`; `experiments.generate_landauer`
and the memory test d use that setting).

It prints a Markdown report and, unless --quick, writes it between the markers
`<!-- benchmark_landauer:start -->` / `<!-- benchmark_landauer:end -->` of
`--output_md` (other content of that file is kept; the file is created when
missing) and the raw numbers to `--output_json`. With --quick, files are
written only where --output_md / --output_json are given explicitly.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from experiments import common
from landauerjax import constants
from landauerjax import models
from landauerjax import sampling
from landauerjax import train
from landauerjax import xla_cpu
from scripts import benchmark_setup as setup
from scripts.benchmark_setup import CORPUS_LEN, VOCAB_SIZE

ALL_CONFIGS = ('landauer_original', 'landauer_original_bf16', 'landauer_lstm', 'landauer_gru',
               'landauer_best', 'landauer_large')
# The original's model and training settings (landauer_original_bf16 only changes
# the matmul operands' precision): compared with the original's timing.
SAME_AS_ORIGINAL = ('landauer_original', 'landauer_original_bf16')

_CONFIGS = flags.DEFINE_list('configs', list(ALL_CONFIGS),
                             'Config modules of experiments/configs to benchmark.')
_QUICK = flags.DEFINE_bool('quick', False,
                           'Smoke run: tiny repeats and lengths; writes no files '
                           'unless --output_md/--output_json are given.')
_REPEATS = flags.DEFINE_integer('repeats', 7, 'Timed repeats per measurement (median).',
                                lower_bound=1)
_TRAIN_STEPS = flags.DEFINE_integer('train_steps', 50,
                                    'Training steps per timed repeat (ours).', lower_bound=1)
_TRAIN_REPEAT_S = flags.DEFINE_float(
    'train_repeat_s', 2.0, 'Target seconds per timed training repeat: slow configs '
    'run fewer than --train_steps steps per repeat (at least one).', lower_bound=0.0)
_TORCH_STEPS = flags.DEFINE_integer('torch_steps', 20,
                                    'Training steps per timed repeat (original).',
                                    lower_bound=1)
_GEN_CHARS = flags.DEFINE_integer('gen_chars', 10_000,
                                  'Characters per timed generation (ours).', lower_bound=1)
_TORCH_GEN_CHARS = flags.DEFINE_integer('torch_gen_chars', 2_000,
                                        'Characters per timed generation (original).',
                                        lower_bound=1)
_CHUNK = flags.DEFINE_integer('chunk', 256, 'Characters per compiled sampling scan.',
                              lower_bound=1)
_MEMORY_LENGTHS = flags.DEFINE_list(
    'memory_lengths', ['10000', '1000000'],
    'Generated lengths for the memory test, one fresh subprocess each; empty skips it.')
_TORCH = flags.DEFINE_bool('torch', True, 'Benchmark the original PyTorch model too.')
_TORCH_THREADS = flags.DEFINE_list(
    'torch_threads', ['0', '1'],
    "torch.set_num_threads settings to benchmark the original at; 0 is torch's "
    'default (one per core). Tiny per-step ops often run faster on one thread, '
    'and far slower on several when the machine is busy.')
_OUTPUT_MD = flags.DEFINE_string('output_md', 'docs/BENCHMARKS.md',
                                 "Markdown file whose marked section is replaced ('' = none).")
_OUTPUT_JSON = flags.DEFINE_string('output_json', 'docs/benchmarks_landauer.json',
                                   "Raw results as JSON ('' = none).")
_SMALL_LOOP_BYTES = flags.DEFINE_integer(
    'small_loop_bytes', xla_cpu.DEFAULT_SMALL_LOOP_BYTES,
    'Hoisted-loops runs and the memory test: XLA CPU compiles loops touching '
    "fewer bytes as one function (0 = XLA's default).", lower_bound=0)
_COMPARE_HOISTED_LOOPS = flags.DEFINE_bool(
    'compare_hoisted_loops', True,
    'Also time training and generation with scans compiled as one function '
    '(one fresh subprocess per config).')
# Internal: the memory test re-runs this module in a child process with these.
_MEMORY_CHILD_CHARS = flags.DEFINE_integer('memory_child_chars', 0,
                                           'Internal: generate this many characters, '
                                           'print a JSON line and exit.', lower_bound=0)
_HOISTED_LOOPS_CHILD = flags.DEFINE_string(
    'hoisted_loops_child', '', 'Internal: benchmark training and generation of this '
    'config with --small_loop_bytes, print a JSON line and exit.')


# ---------------------------------------------------------------------------
# a. Training throughput (ours).
# ---------------------------------------------------------------------------


def bench_train(name: str, repeats: int, steps: int, repeat_s: float
                ) -> dict[str, Any]:
  """ms/step and chars/s of the jitted train step of config `name` (random tokens).

  Each of `repeats` timed repeats runs `steps` steps, or fewer (at least one)
  where `steps` would take much longer than `repeat_s` seconds.
  """
  config = setup.load_config(name)
  model_config = train.model_config_from(config, VOCAB_SIZE)
  model = models.LandauerLM(model_config)
  optimizer = train.make_optimizer(config.train)
  state = train.init_train_state(model_config, optimizer, config.seed)
  num_params = models.count_params(state['params'])
  tokens_N = jnp.asarray(np.random.default_rng(0).integers(
      0, VOCAB_SIZE, CORPUS_LEN, dtype=np.int32))
  step_fn = train.make_train_step(config, model, optimizer)

  t0 = time.perf_counter()
  compiled = step_fn.lower(state, tokens_N).compile()
  compile_s = time.perf_counter() - t0
  metrics = None
  for _ in range(2):  # Warm-up: first-call allocations, caches.
    t0 = time.perf_counter()
    state, metrics = compiled(state, tokens_N)
    jax.block_until_ready((state, metrics))
    warm_s = time.perf_counter() - t0
  # Slow configs take fewer steps per repeat: about `repeat_s` seconds each.
  steps = max(1, min(steps, round(repeat_s / warm_s)))

  def run() -> None:
    nonlocal state, metrics
    for _ in range(steps):
      state, metrics = compiled(state, tokens_N)
    jax.block_until_ready((state, metrics))
  timing = setup.time_repeats(run, repeats)
  loss = float(metrics['loss'])
  if not math.isfinite(loss):
    raise FloatingPointError(f'{name}: non-finite loss {loss} while benchmarking.')
  step_s = timing['median_s'] / steps
  chars = config.train.batch_size * config.train.seq_len
  return {'config': name, 'variant': model_config.variant, 'params': num_params,
          'batch_size': config.train.batch_size, 'seq_len': config.train.seq_len,
          'compile_s': compile_s, 'steps_per_repeat': steps,
          'ms_per_step': 1e3 * step_s,
          'ms_per_step_min': 1e3 * timing['min_s'] / steps,
          'ms_per_step_max': 1e3 * timing['max_s'] / steps,
          'chars_per_s': chars / step_s, 'last_loss': loss, 'timing': timing}


# ---------------------------------------------------------------------------
# c. Generation throughput (ours).
# ---------------------------------------------------------------------------


def _random_model(name: str) -> tuple[models.LandauerLM, Any]:
  config = setup.load_config(name)
  model_config = train.model_config_from(config, VOCAB_SIZE)
  return (models.LandauerLM(model_config),
          models.init_params(model_config, jax.random.PRNGKey(config.seed)))


def _consume(params: Any, model: models.LandauerLM, num_chars: int, chunk: int,
             seed: int = 0) -> int:
  """Generates `num_chars` after a one-character prompt; returns the count."""
  count = 0
  for tokens in sampling.generate(params, model, np.zeros(1, np.int32), num_chars,
                                  jax.random.PRNGKey(seed), temperature=1.0,
                                  chunk=chunk):
    count += tokens.size
  return count


def bench_generate(name: str, num_chars: int, chunk: int, repeats: int) -> dict[str, Any]:
  """chars/s of `sampling.generate` (batch 1) for config `name`, random parameters."""
  model, params = _random_model(name)
  t0 = time.perf_counter()
  _consume(params, model, min(num_chars, chunk), chunk)  # Compiles prefill and chunk.
  compile_s = time.perf_counter() - t0
  timing = setup.time_repeats(lambda: _consume(params, model, num_chars, chunk), repeats)
  return {'config': name, 'variant': model.config.variant, 'chars': num_chars,
          'chunk': chunk, 'first_call_s': compile_s,
          'chars_per_s': num_chars / timing['median_s'], 'timing': timing}


# ---------------------------------------------------------------------------
# b, c. The original PyTorch model.
# ---------------------------------------------------------------------------


def _set_torch_threads(threads: int) -> None:
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(threads)


def bench_torch_train(repeats: int, steps: int) -> dict[str, Any]:
  """The original's training step at the seed defaults: ms/step and chars/s."""
  import torch  # pylint: disable=g-import-not-at-top
  step, info = setup.original_train_step()
  losses = [step() for _ in range(2)]  # Warm-up.

  def run() -> None:
    for _ in range(steps):
      losses.append(step())
  timing = setup.time_repeats(run, repeats)
  step_s = timing['median_s'] / steps
  return {**info, 'steps_per_repeat': steps,
          'ms_per_step': 1e3 * step_s,
          'ms_per_step_min': 1e3 * timing['min_s'] / steps,
          'ms_per_step_max': 1e3 * timing['max_s'] / steps,
          'chars_per_s': info['batch_size'] * info['seq_len'] / step_s,
          'last_loss': losses[-1], 'torch_threads': torch.get_num_threads(),
          'timing': timing}


def bench_torch_generate(num_chars: int, repeats: int) -> dict[str, Any]:
  """The original's sampling: one model call and one torch.multinomial per character."""
  import torch  # pylint: disable=g-import-not-at-top
  config = setup.load_config('landauer_original')
  model = setup.original_model(torch, config).eval()
  hidden = model.rnn.hidden_dim

  def run() -> None:
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
      hs = [torch.zeros(1, hidden) for _ in range(model.rnn.num_layers)]
      token = torch.zeros(1, dtype=torch.long)
      out = []
      for _ in range(num_chars):
        hs = model.rnn.step(model.token_embedding(token), hs)
        probs = torch.softmax(model.output_head(hs[-1]), dim=-1)
        token = torch.multinomial(probs, 1, generator=generator)[:, 0]
        out.append(int(token))
  run()  # Warm-up.
  timing = setup.time_repeats(run, repeats)
  return {'config': 'original (PyTorch)', 'variant': 'original', 'chars': num_chars,
          'chars_per_s': num_chars / timing['median_s'],
          'torch_threads': torch.get_num_threads(), 'timing': timing}


# ---------------------------------------------------------------------------
# d. Memory against generated length, one fresh process per length.
# ---------------------------------------------------------------------------


def _peak_rss_mib() -> dict[str, float | None]:
  """This process's peak resident memory in MiB, two ways.

  'vmhwm': VmHWM of /proc/self/status, the high-water mark of this program's
  own address space (reset by exec). 'ru_maxrss': getrusage's ru_maxrss
  (KiB on Linux), which Linux carries across fork + exec, so in a child it is
  at least the parent's resident size at the fork.
  """
  vmhwm = None
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          vmhwm = int(line.split()[1]) / 1024.0  # kB -> MiB.
  except OSError:
    pass
  return {'vmhwm': vmhwm,
          'ru_maxrss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def memory_child(num_chars: int, chunk: int) -> dict[str, Any]:
  """Runs in the child: generates `num_chars` (seed config); peak RSS in MiB."""
  t_start = time.perf_counter()
  model, params = _random_model('landauer_original')
  count, first_chunk_rss, gen_start = 0, None, None
  for tokens in sampling.generate(params, model, np.zeros(1, np.int32), num_chars,
                                  jax.random.PRNGKey(0), temperature=1.0, chunk=chunk):
    count += tokens.size
    if first_chunk_rss is None:  # Compiled and one chunk done.
      first_chunk_rss, gen_start = _peak_rss_mib(), time.perf_counter()
  end = time.perf_counter()
  peak = _peak_rss_mib()
  return {'chars': count,
          'peak_rss_first_chunk_mib': first_chunk_rss['vmhwm'],
          'peak_rss_mib': peak['vmhwm'],
          'ru_maxrss_first_chunk_mib': first_chunk_rss['ru_maxrss'],
          'ru_maxrss_mib': peak['ru_maxrss'],
          'generate_s': end - gen_start,
          'chars_per_s': (count - min(chunk, count)) / max(end - gen_start, 1e-9),
          'child_s': end - t_start}


def bench_memory(num_chars: int, chunk: int, small_loop_bytes: int) -> dict[str, Any]:
  """Runs `memory_child` in a fresh interpreter; adds the process's wall time (s)."""
  command = [sys.executable, '-m', 'scripts.benchmark_landauer',
             f'--memory_child_chars={num_chars}', f'--chunk={chunk}',
             f'--small_loop_bytes={small_loop_bytes}']
  t0 = time.perf_counter()
  done = subprocess.run(command, cwd=setup.REPO_ROOT, capture_output=True, text=True,
                        check=False)
  wall = time.perf_counter() - t0
  if done.returncode != 0:
    raise RuntimeError(f'Memory child for {num_chars} chars failed:\n{done.stderr[-3000:]}')
  result = json.loads(done.stdout.strip().splitlines()[-1])
  result['process_wall_s'] = wall
  return result


def hoisted_loops_child(name: str, settings: dict[str, Any]) -> dict[str, Any]:
  """Runs in the child: `bench_train` and `bench_generate` of config `name`."""
  return {'train': bench_train(name, settings['repeats'], settings['train_steps'],
                               settings['train_repeat_s']),
          'generate': bench_generate(name, settings['gen_chars'], settings['chunk'],
                                     settings['repeats'])}


def bench_hoisted_loops(name: str, settings: dict[str, Any]) -> dict[str, Any]:
  """`hoisted_loops_child` in a fresh interpreter (XLA reads its flags once)."""
  command = [sys.executable, '-m', 'scripts.benchmark_landauer',
             f'--hoisted_loops_child={name}',
             f"--small_loop_bytes={settings['small_loop_bytes']}",
             f"--repeats={settings['repeats']}", f"--train_steps={settings['train_steps']}",
             f"--train_repeat_s={settings['train_repeat_s']}",
             f"--gen_chars={settings['gen_chars']}", f"--chunk={settings['chunk']}"]
  done = subprocess.run(command, cwd=setup.REPO_ROOT, capture_output=True, text=True,
                        check=False)
  if done.returncode != 0:
    raise RuntimeError(f'Hoisted-loops child for {name} failed:\n{done.stderr[-3000:]}')
  return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Machine information and the report.
# ---------------------------------------------------------------------------


def torch_info() -> dict[str, Any]:
  """torch's version and default thread count; {} without torch."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return {}
  return {'torch': torch.__version__, 'torch_threads': torch.get_num_threads()}


def _torch_thread_settings(requested: Sequence[str], default: int) -> list[int]:
  """Distinct thread counts in order; 0 stands for torch's `default`."""
  counts = []
  for item in requested:
    n = int(item) or default
    if n not in counts:
      counts.append(n)
  return counts


def _command(argv: Sequence[str]) -> str:
  """The command line that ran this benchmark, as a module invocation."""
  return ' '.join(['python -m scripts.benchmark_landauer', *argv[1:]])


def _range(entry: dict[str, Any]) -> str:
  return (f"{entry['ms_per_step']:.1f} "
          f"[{entry['ms_per_step_min']:.1f}–{entry['ms_per_step_max']:.1f}]")


def render_markdown(results: dict[str, Any]) -> str:
  """The report section (without markers) as Markdown."""
  m, s = results['machine'], results['settings']
  torch_text = (f"torch {m['torch']} (default {m['torch_threads']} threads; benchmarked "
                f"at {', '.join(str(n) for n in s.get('torch_threads', []))})" if m['torch']
                else 'torch not installed')
  lines = [
      '## Landauer LM on CPU: training, generation and memory',
      '',
      f"Written by `scripts/benchmark_landauer.py` on {m['date_utc']}"
      + (' — **`--quick` smoke run: not a benchmark.**' if s['quick'] else '.'),
      '',
      f"Command: `{results['command']}` (from the repository root).",
      '',
      f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs "
      f"({m['cpus_available']} available to the process), load average at start "
      f"{' / '.join(str(x) for x in m['load_average_at_start'])}; Python {m['python']}, "
      f"jax {m['jax']} (backend {m['jax_backend']}), flax {m['flax']}, numpy {m['numpy']}, "
      f"{torch_text}.",
      '',
      f"Method: warm timings (compilation and one warm-up excluded, compile time shown "
      f"separately); the median of {s['repeats']} repeats, [min–max] in brackets. "
      f"Training: up to {s['train_steps']} steps per repeat (ours; fewer, at least "
      f"one, where a repeat would take over ~{s['train_repeat_s']:g} s) or "
      f"{s['torch_steps']} (original), each step drawing its batch from "
      f"{CORPUS_LEN:,} random tokens of a "
      f"{VOCAB_SIZE}-character vocabulary, forward, backward, gradient clipping and the "
      f"optimiser update. chars/s = batch × window / (s/step). JAX runs on XLA's CPU "
      f"thread pool (all available cores); the original at each listed torch thread "
      f"count.",
      '',
      '### Training throughput',
      '',
      '| model | variant | params | batch × window | compile (s) | ms/step [min–max] | chars/s '
      '| ms/step, hoisted loops [min–max] |',
      '|---|---|---:|---|---:|---:|---:|---:|',
  ]
  hoisted = results.get('hoisted_loops', {})
  for r in results['train']:
    other = hoisted.get(r['config'], {}).get('train')
    lines.append(f"| {r['config']} | {r['variant']} | {r['params']:,} | "
                 f"{r['batch_size']} × {r['seq_len']} | {r['compile_s']:.1f} | "
                 f"{_range(r)} | {r['chars_per_s']:,.0f} | "
                 f"{_range(other) if other else '—'} |")
  for tt in results.get('torch_train', []):
    lines.append(f"| original PyTorch, per-step Python loop, {tt['torch_threads']} "
                 f"thread(s) | seed | {tt['params']:,} | {tt['batch_size']} × "
                 f"{tt['seq_len']} | — | {_range(tt)} | {tt['chars_per_s']:,.0f} | — |")
  lines.append('')
  if hoisted:
    lines += [
        "Ours run with XLA's default settings, as `experiments.train_landauer` does: "
        'each scan iteration dispatches its kernels one by one. The hoisted-loops '
        'column re-measures each config in a fresh process with '
        f"`landauerjax.xla_cpu.set_small_loop_threshold({s['small_loop_bytes']:,})`, "
        'which compiles every scan as one function (single-threaded); '
        '`experiments.generate_landauer` uses that setting.', '']
  if results.get('torch_note'):
    lines += [f"Original PyTorch model: {results['torch_note']}", '']
  ratio = results.get('ratios', {})
  for config, r in ratio.get('train_ms_ours_over_original', {}).items():
    other = ratio.get('train_ms_hoisted_loops_over_original', {}).get(config)
    lines += [f"Training, {config} vs the original at the same settings (its "
              f"fastest thread setting, {ratio['train_original_threads']}): ms/step "
              f"ours/original = {r:.3f} (ours is {1 / r:.1f}× as fast"
              + (f"; {1 / other:.1f}× with hoisted loops" if other else '') + ').', '']

  lines += [
      '### Generation throughput (batch 1, temperature 1, random parameters)',
      '',
      f"Ours: `sampling.generate`, one compiled `lax.scan` per {s['chunk']} characters, "
      f"{s['gen_chars']:,} characters per repeat; first call (compilation + one chunk) "
      f"shown separately. Original: a Python loop that calls the torch model once per "
      f"character (carrying the hidden state) and samples with `torch.multinomial`, "
      f"{s['torch_gen_chars']:,} characters per repeat.",
      '',
      '| model | variant | implementation | first call (s) | chars/s | chars/s, hoisted loops |',
      '|---|---|---|---:|---:|---:|',
  ]
  for r in results['generate']:
    other = hoisted.get(r['config'], {}).get('generate')
    lines.append(f"| {r['config']} | {r['variant']} | `sampling.generate` | "
                 f"{r['first_call_s']:.1f} | {r['chars_per_s']:,.0f} | "
                 f"{format(other['chars_per_s'], ',.0f') if other else '—'} |")
  for tg in results.get('torch_generate', []):
    lines.append(f"| original PyTorch, {tg['torch_threads']} thread(s) | seed | "
                 f"Python loop + `torch.multinomial` | — | {tg['chars_per_s']:,.0f} | — |")
  lines.append('')
  if 'generate_chars_per_s_ours_over_original' in ratio:
    lines += [f"Generation, landauer_original vs the original (its fastest thread setting, "
              f"{ratio['generate_original_threads']}): chars/s ours/original = "
              f"{ratio['generate_chars_per_s_ours_over_original']:.1f}"
              + (f"; {ratio['generate_chars_per_s_hoisted_over_original']:.1f} with hoisted "
                 'loops (`experiments.generate_landauer`)'
                 if 'generate_chars_per_s_hoisted_over_original' in ratio else '') + '.', '']

  if results['memory']:
    lines += [
        '### Memory against generated length (landauer_original, random parameters)',
        '',
        'Each length runs in a fresh Python process (loops hoisted as in '
        '`experiments.generate_landauer`), started before the parent '
        'benchmarks anything or imports torch. Peak RSS is the process\'s resident '
        'high-water mark, VmHWM of /proc/self/status, taken once the first chunk is done (imports, '
        'compilation) and at the end; `resource.getrusage(RUSAGE_SELF).ru_maxrss` '
        '(KiB → MiB) at the end is shown too — Linux carries it across fork + exec, '
        'so it is also at least the parent\'s size at the fork. Process wall time '
        'includes start-up and compilation; chars/s counts the characters after '
        'the first chunk.',
        '',
        '| characters | process wall (s) | generation (s) | chars/s | '
        'peak RSS after first chunk (MiB) | peak RSS at end (MiB) | ru_maxrss at end (MiB) |',
        '|---:|---:|---:|---:|---:|---:|---:|',
    ]
    for r in results['memory']:
      lines.append(f"| {r['chars']:,} | {r['process_wall_s']:.1f} | "
                   f"{r['generate_s']:.1f} | {r['chars_per_s']:,.0f} | "
                   f"{r['peak_rss_first_chunk_mib']:.1f} | {r['peak_rss_mib']:.1f} | "
                   f"{r['ru_maxrss_mib']:.1f} |")
    lines.append('')
    if len(results['memory']) > 1:
      first, last = results['memory'][0], results['memory'][-1]
      lines += [f"Peak RSS at {last['chars']:,} characters minus at {first['chars']:,}: "
                f"{last['peak_rss_mib'] - first['peak_rss_mib']:+.1f} MiB.", '']
  lines.append(f"Total benchmark time: {results['total_s']:.0f} s.")
  return '\n'.join(lines)


def _round_floats(obj: Any) -> Any:
  if isinstance(obj, float):
    return round(obj, 6)
  if isinstance(obj, dict):
    return {k: _round_floats(v) for k, v in obj.items()}
  if isinstance(obj, list):
    return [_round_floats(v) for v in obj]
  return obj


def main(argv: Sequence[str]) -> None:
  logging.set_verbosity(logging.WARNING)  # Hides JAX's backend-probing INFO lines.
  if _HOISTED_LOOPS_CHILD.value or _MEMORY_CHILD_CHARS.value:
    xla_cpu.set_small_loop_threshold(_SMALL_LOOP_BYTES.value)  # Before any JAX computation.
  if _HOISTED_LOOPS_CHILD.value:
    settings = {'repeats': _REPEATS.value, 'train_steps': _TRAIN_STEPS.value,
                'train_repeat_s': _TRAIN_REPEAT_S.value, 'gen_chars': _GEN_CHARS.value,
                'chunk': _CHUNK.value}
    print(json.dumps(hoisted_loops_child(_HOISTED_LOOPS_CHILD.value, settings)))
    return
  if _MEMORY_CHILD_CHARS.value:
    print(json.dumps(memory_child(_MEMORY_CHILD_CHARS.value, _CHUNK.value)))
    return
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  unknown = sorted(set(_CONFIGS.value) - set(ALL_CONFIGS))
  for name in unknown:  # Any module of experiments/configs is allowed.
    if importlib.util.find_spec(f'experiments.configs.{name}') is None:
      raise app.UsageError(f'--configs: no experiments/configs/{name}.py.')
  quick = _QUICK.value
  settings = {
      'quick': quick,
      'configs': list(_CONFIGS.value),
      'repeats': 1 if quick else _REPEATS.value,
      'train_steps': 2 if quick else _TRAIN_STEPS.value,
      'torch_steps': 1 if quick else _TORCH_STEPS.value,
      'train_repeat_s': 0.5 if quick else _TRAIN_REPEAT_S.value,
      'gen_chars': 512 if quick else _GEN_CHARS.value,
      'torch_gen_chars': 100 if quick else _TORCH_GEN_CHARS.value,
      'chunk': _CHUNK.value,
      'small_loop_bytes': _SMALL_LOOP_BYTES.value,
      'compare_hoisted_loops': _COMPARE_HOISTED_LOOPS.value,
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'memory_lengths': ([1_000, 10_000] if quick and not _MEMORY_LENGTHS.present
                         else [int(n) for n in _MEMORY_LENGTHS.value if n]),
  }
  t_start = time.perf_counter()
  results: dict[str, Any] = {'command': _command(sys.argv), 'machine': setup.machine_info(),
                             'settings': settings, 'train': [], 'generate': [],
                             'hoisted_loops': {}, 'memory': [], 'ratios': {}}
  # Memory first, and before torch is imported: a child's ru_maxrss starts at
  # the parent's resident size at the fork.
  for n in settings['memory_lengths']:
    print(f'[memory] {n:,} chars in a fresh process ...', flush=True)
    results['memory'].append(bench_memory(n, settings['chunk'],
                                          settings['small_loop_bytes']))
  results['machine'].update(torch_info())
  torch_ok = _TORCH.value and results['machine']['torch'] is not None
  if not _TORCH.value:
    results['torch_note'] = 'skipped (--notorch).'
  elif not torch_ok:
    results['torch_note'] = 'skipped: torch is not importable.'
  if settings['compare_hoisted_loops'] and settings['small_loop_bytes']:
    for name in settings['configs']:  # Fresh processes, before torch is imported.
      print(f'[train, generate] {name} with hoisted loops ...', flush=True)
      results['hoisted_loops'][name] = bench_hoisted_loops(name, settings)
  for name in settings['configs']:
    print(f'[train] {name} ...', flush=True)
    results['train'].append(bench_train(name, settings['repeats'],
                                        settings['train_steps'],
                                        settings['train_repeat_s']))
  thread_counts = (_torch_thread_settings(_TORCH_THREADS.value,
                                          results['machine']['torch_threads'])
                   if torch_ok else [])
  settings['torch_threads'] = thread_counts
  results['torch_train'], results['torch_generate'] = [], []
  for threads in thread_counts:
    print(f'[train] original PyTorch, {threads} thread(s) ...', flush=True)
    _set_torch_threads(threads)
    results['torch_train'].append(bench_torch_train(settings['repeats'],
                                                    settings['torch_steps']))
  for name in settings['configs']:
    print(f'[generate] {name} ...', flush=True)
    results['generate'].append(bench_generate(name, settings['gen_chars'],
                                              settings['chunk'], settings['repeats']))
  for threads in thread_counts:
    print(f'[generate] original PyTorch, {threads} thread(s) ...', flush=True)
    _set_torch_threads(threads)
    results['torch_generate'].append(bench_torch_generate(settings['torch_gen_chars'],
                                                          settings['repeats']))

  ours_gen = {r['config']: r for r in results['generate']}.get('landauer_original')
  # Against the original's fastest thread setting (the conservative ratio), for
  # the configs with the original's model and settings (float32, mixed precision).
  same_settings = [r for r in results['train'] if r['config'] in SAME_AS_ORIGINAL]
  if results['torch_train'] and same_settings:
    best = min(results['torch_train'], key=lambda r: r['ms_per_step'])
    results['ratios']['train_ms_ours_over_original'] = {
        r['config']: r['ms_per_step'] / best['ms_per_step'] for r in same_settings}
    results['ratios']['train_ms_hoisted_loops_over_original'] = {
        r['config']: results['hoisted_loops'][r['config']]['train']['ms_per_step']
        / best['ms_per_step'] for r in same_settings
        if r['config'] in results['hoisted_loops']}
    results['ratios']['train_original_threads'] = best['torch_threads']
  if results['torch_generate'] and ours_gen:
    best = max(results['torch_generate'], key=lambda r: r['chars_per_s'])
    results['ratios']['generate_chars_per_s_ours_over_original'] = (
        ours_gen['chars_per_s'] / best['chars_per_s'])
    hoisted_gen = results['hoisted_loops'].get('landauer_original', {}).get('generate')
    if hoisted_gen:
      results['ratios']['generate_chars_per_s_hoisted_over_original'] = (
          hoisted_gen['chars_per_s'] / best['chars_per_s'])
    results['ratios']['generate_original_threads'] = best['torch_threads']
  results['total_s'] = time.perf_counter() - t_start
  results['inertia_coefficient'] = train.inertia_coefficient(0.1, 0.05)
  results['ln_phi'] = constants.LN_PHI

  markdown = render_markdown(results)
  print()
  print(markdown)
  write_md = _OUTPUT_MD.value and (not quick or _OUTPUT_MD.present)
  write_json = _OUTPUT_JSON.value and (not quick or _OUTPUT_JSON.present)
  if write_md:
    common.write_marked_section(_OUTPUT_MD.value, 'benchmark_landauer', markdown,
                                '# Benchmarks')
    print(f'\nWrote the section of {_OUTPUT_MD.value}.')
  if write_json:
    os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT_JSON.value)), exist_ok=True)
    with open(_OUTPUT_JSON.value, 'w') as f:
      json.dump(_round_floats(results), f, indent=2)
      f.write('\n')
    print(f'Wrote {_OUTPUT_JSON.value}.')
  if quick and not (write_md or write_json):
    print('\n--quick: no files written (give --output_md/--output_json to write).')


if __name__ == '__main__':
  app.run(main)
