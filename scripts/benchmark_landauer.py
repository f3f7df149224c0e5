r"""CPU throughput and memory of the Landauer LM, ours (JAX) against the original (PyTorch).

Usage (from the repository root, on a quiet machine):

  python -m scripts.benchmark_landauer            # the full run, ~5 minutes
  python -m scripts.benchmark_landauer --quick    # smoke run; writes nothing

Measured warm (compilation timed apart), medians of repeats
(`landauerjax.profiling`), on random tokens of a 65-character vocabulary:

  a. training: ms/step and chars/s of `train.make_train_step` per `--configs`
     entry, at the config's own batch and window;
  b. the original PyTorch model and training step (`landauerjax.torch_reference`)
     at the `original` defaults, at torch's default thread count and at one thread;
  c. generation, batch 1: `sampling.generate` per config, and the original's
     per-character loop with `torch.multinomial`;
  d. a and c again per config in a fresh process with hoisted loops
     (`landauerjax.xla_cpu`, the setting of `experiments.generate_landauer`);
  e. peak resident memory of generating `--memory_lengths` characters, each in
     a fresh process started before anything else runs.

It prints Markdown tables and writes them between the `benchmark_landauer`
markers of `--output_md` (docs/BENCHMARKS.md describes the protocol outside
them) and the raw numbers to `--output_json`; with --quick, only where given.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags
from absl import logging

from experiments import common
from landauerjax import profiling
from landauerjax import xla_cpu
from landauerjax.core import fresh_process
from landauerjax.core import reports
from landauerjax.core import timing

ALL_CONFIGS = ('landauer_original', 'landauer_original_bf16', 'landauer_lstm', 'landauer_gru',
               'landauer_best', 'landauer_large')
# The original's model and training settings (bf16 only changes the matmul operands'
# precision): these get a speed-up over the original.
SAME_AS_ORIGINAL = ('landauer_original', 'landauer_original_bf16')
VOCAB_SIZE = 65  # Tiny Shakespeare's characters.
CHUNK = 256  # Characters per compiled sampling scan.
TORCH_THREADS = (0, 1)  # torch.set_num_threads settings; 0 is torch's default.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = profiling.CpuSettings(repeats=1, train_steps=2, train_repeat_s=0.5, torch_steps=1,
                              gen_chars=512, torch_gen_chars=100)
FLAGS = flags.FLAGS
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


def child(spec: dict[str, Any]) -> dict[str, Any]:
  """A fresh process's work, loops hoisted (XLA reads its flags once)."""
  xla_cpu.set_small_loop_threshold()  # Before any JAX computation.
  if 'memory_chars' in spec:
    config = _config('landauer_original')
    model, params = profiling.random_model(config, VOCAB_SIZE, config.seed)
    return profiling.sampling_memory(params, model, spec['memory_chars'], chunk=CHUNK)
  s = profiling.CpuSettings(**spec['settings'])
  config = _config(spec['config'])
  return {'train': profiling.benchmark_train(spec['config'], config, VOCAB_SIZE, s),
          'generate': profiling.benchmark_generate(spec['config'], config, VOCAB_SIZE, s,
                                                   chunk=CHUNK)}


def in_fresh_process(**spec: Any) -> dict[str, Any]:
  """`child(spec)` in a new interpreter; adds its wall time (s) as 'process_wall_s'."""
  out = fresh_process.run('scripts.benchmark_landauer:child', spec, cwd=REPO_ROOT)
  if out['status'] != 'ok':
    raise RuntimeError(f"Benchmark child {spec} failed: {out['error']}\n"
                       f"{out.get('traceback', '')}")
  extra = {'child_s': out['child_s']} if 'memory_chars' in spec else {}
  return {**out['result'], **extra, 'process_wall_s': out['wall_s']}


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)  # Hides JAX's backend-probing INFO lines.
  for name in FLAGS.configs:
    if importlib.util.find_spec(f'experiments.configs.{name}') is None:
      raise app.UsageError(f'--configs: no experiments/configs/{name}.py.')
  quick = FLAGS.quick
  s = QUICK if quick else profiling.CpuSettings()
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
  results['train'] = [profiling.benchmark_train(name, _config(name), VOCAB_SIZE, s)
                      for name in FLAGS.configs]
  results['generate'] = [profiling.benchmark_generate(name, _config(name), VOCAB_SIZE, s,
                                                      chunk=CHUNK) for name in FLAGS.configs]
  results['torch_train'], results['torch_generate'] = [], []
  if FLAGS.torch and importlib.util.find_spec('torch') is not None:
    import torch  # pylint: disable=g-import-not-at-top
    results['machine']['torch'] = torch.__version__
    for threads in dict.fromkeys(n or torch.get_num_threads() for n in TORCH_THREADS):
      train_result, generate_result = profiling.time_torch_reference(
          _config('landauer_original'), VOCAB_SIZE, threads, repeats=s.repeats,
          train_steps=s.torch_steps, gen_chars=s.torch_gen_chars)
      results['torch_train'].append(train_result)
      results['torch_generate'].append(generate_result)
  results['speedups'] = profiling.speedups(results, SAME_AS_ORIGINAL)
  results['total_s'] = time.perf_counter() - t_start

  markdown = profiling.benchmark_markdown(results)
  print(markdown)
  if FLAGS.output_md and (not quick or FLAGS['output_md'].present):
    reports.write_marked_section(FLAGS.output_md, 'benchmark_landauer', markdown,
                                 '# Benchmarks')
    print(f'Wrote the section of {FLAGS.output_md}.')
  if FLAGS.output_json and (not quick or FLAGS['output_json'].present):
    reports.write_json(FLAGS.output_json, results, indent=2)
    print(f'Wrote {FLAGS.output_json}.')


if __name__ == '__main__':
  common.run(main)
