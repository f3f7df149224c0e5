r"""CPU throughput and memory of the Landauer LM, ours (JAX) against the original (PyTorch).

Usage (from the repository root, on a quiet machine):

  python -m scripts.benchmark_landauer            # the full run, ~5 minutes
  python -m scripts.benchmark_landauer --quick    # smoke run; writes nothing

Measured warm (compilation timed apart), medians of repeats
(`landauerjax.core.timing`), on random tokens of a 65-character vocabulary:

  a. training: ms/step and chars/s of `train.make_train_step` per `--configs`
     entry, at the config's own batch and window;
  b. the original PyTorch model and training step
     (`landauerjax.torch_reference`) at the `original` defaults, at torch's
     default thread count and at one thread;
  c. generation, batch 1: `sampling.generate` per config, and the original's
     per-character loop with `torch.multinomial`;
  d. with hoisted loops: a and c again per config in a fresh process with each
     `lax.scan` compiled as one function (`landauerjax.xla_cpu`, the setting of
     `experiments.generate_landauer`);
  e. peak resident memory of generating `--memory_lengths` characters, each in
     a fresh process started before anything else runs.

It prints Markdown tables and, unless --quick, writes them between
`<!-- benchmark_landauer:start -->` and `<!-- benchmark_landauer:end -->` of
`--output_md` (docs/BENCHMARKS.md describes the protocol outside the markers)
and the raw numbers to `--output_json`. With --quick, files are written only
where --output_md / --output_json are given.
"""

from __future__ import annotations

import dataclasses
import importlib
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
from landauerjax import models
from landauerjax import sampling
from landauerjax import train
from landauerjax import xla_cpu
from landauerjax.core import timing

ALL_CONFIGS = ('landauer_original', 'landauer_original_bf16', 'landauer_lstm', 'landauer_gru',
               'landauer_best', 'landauer_large')
# The original's model and training settings (bf16 only changes the matmul operands'
# precision): these get a speed-up over the original.
SAME_AS_ORIGINAL = ('landauer_original', 'landauer_original_bf16')
VOCAB_SIZE = 65  # Tiny Shakespeare's characters.
CORPUS_LEN = 200_000  # Random training tokens to draw windows from.
CHUNK = 256  # Characters per compiled sampling scan.
TORCH_THREADS = (0, 1)  # torch.set_num_threads settings; 0 is torch's default.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Settings:
  """How much each measurement runs; the defaults are the full benchmark's."""
  repeats: int = 7  # Timed repeats per measurement (median).
  train_steps: int = 50  # Steps per training repeat (fewer where it would exceed ~train_repeat_s).
  train_repeat_s: float = 2.0
  torch_steps: int = 20  # Steps per training repeat of the original.
  gen_chars: int = 10_000  # Characters per generation repeat (ours).
  torch_gen_chars: int = 2_000  # Characters per generation repeat (the original).


QUICK = Settings(repeats=1, train_steps=2, train_repeat_s=0.5, torch_steps=1, gen_chars=512,
                 torch_gen_chars=100)

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This script's flags; defined only when it runs, so importing the module defines none."""
  flags.DEFINE_list('configs', list(ALL_CONFIGS), 'Configs of experiments/configs.')
  flags.DEFINE_bool('quick', False, 'Smoke run: one repeat, few steps and characters.')
  flags.DEFINE_bool('torch', True, 'Benchmark the original PyTorch model too.')
  flags.DEFINE_list(
      'memory_lengths', ['10000', '1000000'],
      'Generated lengths of the memory test, one fresh process each (--quick: 1000,10000).')
  flags.DEFINE_string('output_md', 'docs/BENCHMARKS.md',
                      "Markdown file whose marked section is replaced ('' = none).")
  flags.DEFINE_string('output_json', 'docs/benchmarks_landauer.json',
                      "Raw results as JSON ('' = none).")


def _config(name: str) -> Any:
  return importlib.import_module(f'experiments.configs.{name}').get_config()


def _per_step(stats: dict[str, Any], steps: int, chars: int) -> dict[str, Any]:
  """ms/step [min, max] and chars/s of a timing of `steps` steps of `chars` characters."""
  return {'steps_per_repeat': steps, 'ms_per_step': 1e3 * stats['median_s'] / steps,
          'ms_per_step_min': 1e3 * stats['min_s'] / steps,
          'ms_per_step_max': 1e3 * stats['max_s'] / steps,
          'chars_per_s': chars * steps / stats['median_s'], 'timing': stats}


def bench_train(name: str, s: Settings) -> dict[str, Any]:
  """a. The jitted train step of config `name` on random tokens."""
  config = _config(name)
  model_config = train.model_config_from(config, VOCAB_SIZE)
  model = models.LandauerLM(model_config)
  optimizer = train.make_optimizer(config.train)
  state = train.init_train_state(model_config, optimizer, config.seed)
  tokens_N = jnp.asarray(np.random.default_rng(0).integers(0, VOCAB_SIZE, CORPUS_LEN),
                         jnp.int32)
  t0 = time.perf_counter()
  step = train.make_train_step(config, model, optimizer).lower(state, tokens_N).compile()
  compile_s = time.perf_counter() - t0
  for _ in range(2):  # Warm-up; the second call estimates the step time.
    t0 = time.perf_counter()
    state, metrics = jax.block_until_ready(step(state, tokens_N))
    warm_s = time.perf_counter() - t0
  steps = max(1, min(s.train_steps, round(s.train_repeat_s / warm_s)))

  def run() -> Any:
    nonlocal state, metrics
    for _ in range(steps):
      state, metrics = step(state, tokens_N)
    return state, metrics
  [stats] = timing.time_calls([run], s.repeats, warmup=0)
  loss = float(metrics['loss'])
  if not math.isfinite(loss):
    raise FloatingPointError(f'{name}: non-finite loss {loss} while benchmarking.')
  return {'config': name, 'variant': model_config.variant,
          'params': models.count_params(state['params']),
          'batch_size': config.train.batch_size, 'seq_len': config.train.seq_len,
          'compile_s': compile_s, 'last_loss': loss,
          **_per_step(stats, steps, config.train.batch_size * config.train.seq_len)}


def _random_model(name: str) -> tuple[models.LandauerLM, Any]:
  config = _config(name)
  model_config = train.model_config_from(config, VOCAB_SIZE)
  return (models.LandauerLM(model_config),
          models.init_params(model_config, jax.random.PRNGKey(config.seed)))


def bench_generate(name: str, s: Settings) -> dict[str, Any]:
  """c. chars/s of `sampling.generate` (batch 1, temperature 1), random parameters."""
  model, params = _random_model(name)

  def run(num_chars: int) -> int:
    return sum(t.size for t in sampling.generate(
        params, model, np.zeros(1, np.int32), num_chars, jax.random.PRNGKey(0),
        temperature=1.0, chunk=CHUNK))
  t0 = time.perf_counter()
  run(min(s.gen_chars, CHUNK))  # Compiles prefill and chunk.
  first_call_s = time.perf_counter() - t0
  [stats] = timing.time_calls([lambda: run(s.gen_chars)], s.repeats, warmup=0)
  return {'config': name, 'variant': model.config.variant, 'chars': s.gen_chars,
          'first_call_s': first_call_s, 'chars_per_s': s.gen_chars / stats['median_s'],
          'timing': stats}


def bench_torch(threads: int, s: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
  """b, c. The original's training step and sampling at `threads` torch threads."""
  import torch  # pylint: disable=g-import-not-at-top
  from landauerjax import torch_reference as ref  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(threads)
  config = _config('landauer_original')
  m = config.model

  def model() -> Any:
    torch.manual_seed(config.seed)
    return ref.OriginalLandauerLM(VOCAB_SIZE, m.embed_dim, m.hidden_dim, m.num_layers,
                                  m.phase_scaling, m.base_phase)
  trained = model().train()
  step = ref.make_train_step(
      trained, torch.from_numpy(np.random.default_rng(0).integers(0, VOCAB_SIZE, CORPUS_LEN)),
      batch_size=config.train.batch_size, seq_len=config.train.seq_len,
      learning_rate=config.train.learning_rate, grad_clip=config.train.grad_clip,
      inertia_coefficient=train.inertia_coefficient(config.train.energy_weight,
                                                    config.train.inertia_temperature))
  losses = [step() for _ in range(2)]  # Warm-up.
  [stats] = timing.time_calls([lambda: losses.extend(step() for _ in range(s.torch_steps))],
                              s.repeats, warmup=0)
  info = {'config': 'original (PyTorch)', 'variant': 'original', 'torch_threads': threads}
  train_result = {**info, 'params': sum(p.numel() for p in trained.parameters()),
                  'batch_size': config.train.batch_size, 'seq_len': config.train.seq_len,
                  'last_loss': losses[-1],
                  **_per_step(stats, s.torch_steps,
                              config.train.batch_size * config.train.seq_len)}
  sampler = model().eval()
  [stats] = timing.time_calls([lambda: ref.sample(sampler, s.torch_gen_chars)], s.repeats)
  return train_result, {**info, 'chars': s.torch_gen_chars,
                        'chars_per_s': s.torch_gen_chars / stats['median_s'], 'timing': stats}


def _peak_rss_mib() -> dict[str, float | None]:
  """Peak resident memory (MiB): VmHWM of /proc/self/status (reset by exec) and
  getrusage's ru_maxrss (carried across fork + exec: at least the parent's size)."""
  vmhwm = None
  try:
    with open('/proc/self/status') as f:
      vmhwm = next((int(line.split()[1]) / 1024.0 for line in f if line.startswith('VmHWM:')),
                   None)
  except OSError:
    pass
  return {'vmhwm': vmhwm, 'ru_maxrss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def bench_memory(num_chars: int) -> dict[str, Any]:
  """e. Generates `num_chars` (landauer_original, random parameters); peak RSS in MiB."""
  t_start = time.perf_counter()
  model, params = _random_model('landauer_original')
  count, first, gen_start = 0, None, None
  for tokens in sampling.generate(params, model, np.zeros(1, np.int32), num_chars,
                                  jax.random.PRNGKey(0), temperature=1.0, chunk=CHUNK):
    count += tokens.size
    if first is None:  # Compiled and one chunk done.
      first, gen_start = _peak_rss_mib(), time.perf_counter()
  end, peak = time.perf_counter(), _peak_rss_mib()
  return {'chars': count, 'peak_rss_first_chunk_mib': first['vmhwm'],
          'peak_rss_mib': peak['vmhwm'], 'ru_maxrss_first_chunk_mib': first['ru_maxrss'],
          'ru_maxrss_mib': peak['ru_maxrss'], 'generate_s': end - gen_start,
          'chars_per_s': (count - min(CHUNK, count)) / max(end - gen_start, 1e-9),
          'child_s': end - t_start}


def child(spec_json: str) -> None:
  """A fresh process's work, loops hoisted (XLA reads its flags once): prints a JSON line."""
  spec = json.loads(spec_json)
  xla_cpu.set_small_loop_threshold()  # Before any JAX computation.
  if 'memory_chars' in spec:
    result = bench_memory(spec['memory_chars'])
  else:
    s = Settings(**spec['settings'])
    result = {'train': bench_train(spec['config'], s),
              'generate': bench_generate(spec['config'], s)}
  print(json.dumps(result))


def in_fresh_process(**spec: Any) -> dict[str, Any]:
  """`child(spec)` in a new interpreter; adds its wall time (s) as 'process_wall_s'."""
  code = 'import sys; from scripts import benchmark_landauer as b; b.child(sys.argv[1])'
  t0 = time.perf_counter()
  done = subprocess.run([sys.executable, '-c', code, json.dumps(spec)], cwd=REPO_ROOT,
                        capture_output=True, text=True, check=False)
  if done.returncode != 0:
    raise RuntimeError(f'Benchmark child {spec} failed:\n{done.stderr[-3000:]}')
  return {**json.loads(done.stdout.strip().splitlines()[-1]),
          'process_wall_s': time.perf_counter() - t0}


def speedups(results: dict[str, Any]) -> dict[str, Any]:
  """Ours over the original's fastest thread setting, for SAME_AS_ORIGINAL configs."""
  if not results['torch_train']:
    return {}
  torch_ms = min(r['ms_per_step'] for r in results['torch_train'])
  torch_cps = max(r['chars_per_s'] for r in results['torch_generate'])
  out: dict[str, Any] = {'train': {}, 'train_hoisted': {}, 'generate': {},
                         'generate_hoisted': {}}
  for kind, key, ratio in (('train', 'ms_per_step', lambda v: torch_ms / v),
                           ('generate', 'chars_per_s', lambda v: v / torch_cps)):
    for r in results[kind]:
      if r['config'] in SAME_AS_ORIGINAL:
        out[kind][r['config']] = ratio(r[key])
        hoisted = results['hoisted_loops'].get(r['config'])
        if hoisted:
          out[f'{kind}_hoisted'][r['config']] = ratio(hoisted[kind][key])
  return out


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
  """A Markdown table; columns after the first two are right-aligned."""
  return ['| ' + ' | '.join(header) + ' |',
          '|' + '|'.join('---' if i < 2 else '---:' for i in range(len(header))) + '|',
          *('| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows), '']


def render_markdown(results: dict[str, Any]) -> str:
  """The section between the markers: a header line, the machine, and the tables."""
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
  lines += _table(
      ['model', 'variant', 'params', 'batch × window', 'compile (s)', 'ms/step [min–max]',
       'chars/s', 'ms/step, hoisted loops', 'speed-up'],
      [[r['config'], r['variant'], f"{r['params']:,}", f"{r['batch_size']} × {r['seq_len']}",
        f"{r['compile_s']:.1f}", ms(r), f"{r['chars_per_s']:,.0f}",
        ms(hoisted[r['config']]['train']) if r['config'] in hoisted else '—',
        x('train', r['config'])] for r in results['train']]
      + [[f"original PyTorch, {r['torch_threads']} thread(s)", 'original', f"{r['params']:,}",
          f"{r['batch_size']} × {r['seq_len']}", '—', ms(r), f"{r['chars_per_s']:,.0f}", '—',
          '—'] for r in results['torch_train']])
  lines += ['### Generation (batch 1, temperature 1, random parameters)', '']
  lines += _table(
      ['model', 'variant', 'first call (s)', 'chars/s', 'chars/s, hoisted loops', 'speed-up'],
      [[r['config'], r['variant'], f"{r['first_call_s']:.1f}", f"{r['chars_per_s']:,.0f}",
        (f"{hoisted[r['config']]['generate']['chars_per_s']:,.0f}" if r['config'] in hoisted
         else '—'), x('generate', r['config'])] for r in results['generate']]
      + [[f"original PyTorch, {r['torch_threads']} thread(s)", 'original', '—',
          f"{r['chars_per_s']:,.0f}", '—', '—'] for r in results['torch_generate']])
  if results['memory']:
    lines += ['### Memory against generated length (landauer_original, fresh processes)', '']
    lines += _table(
        ['characters', 'process wall (s)', 'generation (s)', 'chars/s',
         'peak RSS after first chunk (MiB)', 'peak RSS at end (MiB)', 'ru_maxrss at end (MiB)'],
        [[f"{r['chars']:,}", f"{r['process_wall_s']:.1f}", f"{r['generate_s']:.1f}",
          f"{r['chars_per_s']:,.0f}", f"{r['peak_rss_first_chunk_mib']:.1f}",
          f"{r['peak_rss_mib']:.1f}", f"{r['ru_maxrss_mib']:.1f}"] for r in results['memory']])
  lines.append(f"Total benchmark time: {results['total_s']:.0f} s.")
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # Hides JAX's backend-probing INFO lines.
  for name in FLAGS.configs:
    if importlib.util.find_spec(f'experiments.configs.{name}') is None:
      raise app.UsageError(f'--configs: no experiments/configs/{name}.py.')
  quick = FLAGS.quick
  s = QUICK if quick else Settings()
  memory_lengths = ([1_000, 10_000] if quick and not FLAGS['memory_lengths'].present
                    else [int(n) for n in FLAGS.memory_lengths if n])
  t_start = time.perf_counter()
  results: dict[str, Any] = {
      'command': ' '.join(['python -m scripts.benchmark_landauer', *sys.argv[1:]]),
      'machine': timing.machine_info(),
      'settings': {'quick': quick, **dataclasses.asdict(s), 'chunk': CHUNK,
                   'configs': list(FLAGS.configs), 'memory_lengths': memory_lengths,
                   'xla_flags': os.environ.get('XLA_FLAGS', '')}}
  # Fresh processes first, before torch is imported: a child's ru_maxrss starts at the
  # parent's resident size at the fork.
  results['memory'] = [in_fresh_process(memory_chars=n) for n in memory_lengths]
  results['hoisted_loops'] = {name: in_fresh_process(config=name, settings=dataclasses.asdict(s))
                              for name in FLAGS.configs}
  results['train'] = [bench_train(name, s) for name in FLAGS.configs]
  results['generate'] = [bench_generate(name, s) for name in FLAGS.configs]
  results['torch_train'], results['torch_generate'] = [], []
  if FLAGS.torch and importlib.util.find_spec('torch') is not None:
    import torch  # pylint: disable=g-import-not-at-top
    results['machine']['torch'] = torch.__version__
    for threads in dict.fromkeys(n or torch.get_num_threads() for n in TORCH_THREADS):
      train_result, generate_result = bench_torch(threads, s)
      results['torch_train'].append(train_result)
      results['torch_generate'].append(generate_result)
  results['speedups'] = speedups(results)
  results['total_s'] = time.perf_counter() - t_start

  markdown = render_markdown(results)
  print(markdown)
  if FLAGS.output_md and (not quick or FLAGS['output_md'].present):
    common.write_marked_section(FLAGS.output_md, 'benchmark_landauer', markdown, '# Benchmarks')
    print(f'Wrote the section of {FLAGS.output_md}.')
  if FLAGS.output_json and (not quick or FLAGS['output_json'].present):
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output_json)), exist_ok=True)
    with open(FLAGS.output_json, 'w') as f:
      json.dump(results, f, indent=2)
      f.write('\n')
    print(f'Wrote {FLAGS.output_json}.')


if __name__ == '__main__':
  define_flags()
  common.run(main)
