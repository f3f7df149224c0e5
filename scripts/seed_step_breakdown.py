r"""Where the `seed` training step's time goes, against the original, interleaved.

Usage (from the repository root, on a quiet machine):

  python -m scripts.seed_step_breakdown            # ~2 minutes; writes its section
  python -m scripts.seed_step_breakdown --quick    # smoke run; writes nothing

For each `--configs` entry (the original's model and hyperparameters, in float32
and with bfloat16 matmul operands) it compiles three training steps:

  full              the real jitted step (`train.make_train_step`);
  no_backward_loop  the same, except that each seed layer's backward pass is
                    truncated to one step back in time, dL/da_t = (1 - h_t^2)
                    (g_t + J_{t+1} (1 - h_{t+1}^2) g_{t+1}) with g = dL/dh from
                    above: the same parallel pass over the states
                    (`kernels.original_backward_terms`) without the sequential loop;
  no_recurrence     every seed layer's states are tanh(z_t) * s, each from its
                    own drive: no loop over time at all. Every matmul, the
                    loss, the optimiser update and the data sampling remain.

The two ablations compute wrong gradients on purpose: they measure what the
time loops cost inside the step (how fast the step could be if they were free),
they are not models. The original PyTorch step (`--torch`) is timed in the
same rounds, so each round gives a speed-up ratio measured under the same
machine load: round after round, every step function runs `--steps` steps.

It also counts the step's matmul FLOPs (from the jaxpr of the loss gradient)
and times the step's largest matmul shape on this machine: FLOPs / that rate
estimates the matmuls' share of the step (their time if every matmul of the
step ran back to back at that shape's rate), and the number of while loops in
each compiled step's seed layers shows what each ablation removed.

The report goes between `<!-- seed_step_breakdown:start -->` and `...:end -->`
of `--output_md` and the raw numbers to `--output_json` (neither with --quick,
unless given explicitly).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from absl import app
from absl import flags
from absl import logging
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from experiments import common
from landauerjax import kernels
from landauerjax import models
from landauerjax import train
from scripts import benchmark_setup as setup

ABLATIONS = ('full', 'no_backward_loop', 'no_recurrence')

_CONFIGS = flags.DEFINE_list('configs', ['landauer_original', 'landauer_original_bf16'],
                             'Configs of experiments/configs with variant=seed.')
_ROUNDS = flags.DEFINE_integer('rounds', 40, 'Timed rounds (each runs every step function).',
                               lower_bound=1)
_STEPS = flags.DEFINE_integer('steps', 20, 'Steps per step function and round.',
                              lower_bound=1)
_TORCH = flags.DEFINE_bool('torch', True, 'Time the original PyTorch step too.')
_TORCH_THREADS = flags.DEFINE_integer(
    'torch_threads', 2, "torch's thread count (2 was the original's fastest setting here).",
    lower_bound=1)
_QUICK = flags.DEFINE_bool('quick', False, 'Smoke run: 1 round of 2 steps and 3 matmul '
                           'repeats, whatever --rounds and --steps say; writes files only '
                           'where --output_md / --output_json are given.')
_OUTPUT_MD = flags.DEFINE_string('output_md', 'docs/BENCHMARKS.md',
                                 'Markdown file whose marked section is replaced.')
_OUTPUT_JSON = flags.DEFINE_string('output_json', 'docs/seed_step_breakdown.json',
                                   'Raw numbers ("" to skip).')


# ---------------------------------------------------------------------------
# The ablated seed scans (drop-in replacements for kernels.original_scan).
# ---------------------------------------------------------------------------


@jax.custom_vjp
def scan_without_backward_loop(h0_BxH: jax.Array, z_TxBxH: jax.Array, scale_H: jax.Array,
                               cos_phase_H: jax.Array, sin_phase_H: jax.Array) -> jax.Array:
  """kernels.original_scan's states, with a backward pass truncated to one step."""
  return kernels.original_scan(h0_BxH, z_TxBxH, scale_H, cos_phase_H, sin_phase_H)


def _no_loop_fwd(h0, z, scale, cos_phase, sin_phase):
  hs = kernels.original_scan(h0, z, scale, cos_phase, sin_phase)
  return hs, (h0, hs, scale, cos_phase, sin_phase)


def _no_loop_bwd(residuals, g_TxBxH):
  h0, hs, scale, cos_phase, sin_phase = residuals
  h_prev, rotation, jacobian = kernels.original_backward_terms(h0, hs, scale, cos_phase, sin_phase)
  local = (1.0 - hs * hs) * g_TxBxH  # dL/da_t from h_t's own gradient.
  from_next = jnp.concatenate([jacobian[1:] * local[1:], jnp.zeros_like(local[:1])], axis=0)
  g_a = local + (1.0 - hs * hs) * from_next  # ... plus one step back from t+1.
  return (jacobian[0] * g_a[0], g_a, jnp.sum(g_a * h_prev * rotation, axis=(0, 1)),
          jnp.zeros_like(cos_phase), jnp.zeros_like(sin_phase))


scan_without_backward_loop.defvjp(_no_loop_fwd, _no_loop_bwd)


def scan_without_recurrence(h0_BxH: jax.Array, z_TxBxH: jax.Array, scale_H: jax.Array,
                            cos_phase_H: jax.Array, sin_phase_H: jax.Array) -> jax.Array:
  """States tanh(z_t) * s, each from its own drive: [T, B, H], no time loop."""
  del h0_BxH, cos_phase_H, sin_phase_H
  return jnp.tanh(z_TxBxH) * scale_H


_SCANS = {'full': None, 'no_backward_loop': scan_without_backward_loop,
          'no_recurrence': scan_without_recurrence}


# ---------------------------------------------------------------------------
# FLOP count and matmul rate.
# ---------------------------------------------------------------------------


def _subjaxprs(eqn: Any) -> list[Any]:
  """The jaxprs inside an equation's parameters (pjit, custom_vjp, cond, ...)."""
  found = []
  for value in eqn.params.values():
    for item in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(item, jax.extend.core.ClosedJaxpr):
        found.append(item.jaxpr)
      elif isinstance(item, jax.extend.core.Jaxpr):
        found.append(item)
  return found


def dot_flops(jaxpr: Any) -> int:
  """2 x multiply-adds of every dot_general in `jaxpr` (a Jaxpr or ClosedJaxpr).

  Scan bodies count once per iteration; a dot inside a while loop (unknown
  trip count) raises ValueError.
  """
  jaxpr = getattr(jaxpr, 'jaxpr', jaxpr)
  total = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == 'dot_general':
      (contract_lhs, _), _ = eqn.params['dimension_numbers']
      lhs_shape = eqn.invars[0].aval.shape
      contracted = math.prod(lhs_shape[d] for d in contract_lhs)
      total += 2 * contracted * math.prod(eqn.outvars[0].aval.shape)
      continue
    inner = sum(dot_flops(sub) for sub in _subjaxprs(eqn))
    if name == 'scan':
      inner *= eqn.params['length']
    elif name == 'while' and inner:
      raise ValueError('dot_flops: a while loop contains matmuls; its trip count is unknown.')
    total += inner
  return total


def step_matmul_flops(config: Any, model: models.LandauerLM, params: Any) -> int:
  """Matmul FLOPs of one training step: forward and backward of the loss."""
  windows = jnp.zeros((config.train.batch_size, config.train.seq_len + 1), jnp.int32)
  coefficient = train.inertia_coefficient(config.train.energy_weight,
                                          config.train.inertia_temperature)
  grad_fn = jax.grad(lambda p: train.loss_fn(p, model, windows, coefficient)[0])
  return dot_flops(jax.make_jaxpr(grad_fn)(params))


def matmul_rate(rows: int, inner: int, cols: int, dtype: str, repeats: int) -> float:
  """FLOP/s of `kernels.matmul` ([rows, inner] @ [inner, cols], `dtype` operands)."""
  x = jax.random.normal(jax.random.PRNGKey(0), (rows, inner))
  w = jax.random.normal(jax.random.PRNGKey(1), (inner, cols))
  fn = jax.jit(lambda x, w: kernels.matmul(x, w, dtype))
  fn(x, w).block_until_ready()
  calls = 20

  def run() -> None:
    for _ in range(calls):
      out = fn(x, w)
    out.block_until_ready()
  seconds = setup.time_repeats(run, repeats)['median_s'] / calls
  return 2 * rows * inner * cols / seconds


# ---------------------------------------------------------------------------
# The interleaved measurement.
# ---------------------------------------------------------------------------


Runner = tuple[Callable[[], Any], Callable[[], Any]]  # (run one step, wait for it).


def build_step(name: str, ablation: str) -> tuple[Runner, dict[str, Any]]:
  """(run, wait) closures for one training step of config `name` with `ablation`.

  `run()` dispatches a step (asynchronously); `wait()` blocks until the last
  one is done. The model runs its seed layers with the ablated scan.
  """
  config = setup.load_config(name)
  model_config = train.model_config_from(config, setup.VOCAB_SIZE)
  if model_config.variant != 'seed':
    raise app.UsageError(f'--configs: {name} has variant {model_config.variant!r}, not seed.')
  model = models.LandauerLM(model_config, original_scan=_SCANS[ablation] or kernels.original_scan)
  optimizer = train.make_optimizer(config.train)
  state = train.init_train_state(model_config, optimizer, config.seed)
  tokens_N = jnp.asarray(np.random.default_rng(0).integers(
      0, setup.VOCAB_SIZE, setup.CORPUS_LEN, dtype=np.int32))
  step_fn = train.make_train_step(config, model, optimizer)
  compiled = step_fn.lower(state, tokens_N).compile()
  flops = step_matmul_flops(config, model, state['params'])
  box = {'state': state, 'loss': None}

  def run() -> None:
    box['state'], metrics = compiled(box['state'], tokens_N)
    box['loss'] = metrics['loss']

  def wait() -> None:
    jax.block_until_ready(box['state'])

  for _ in range(2):  # Warm-up.
    run()
  wait()
  info = {'config': name, 'ablation': ablation, 'matmul_dtype': model_config.matmul_dtype,
          'batch_size': config.train.batch_size, 'seq_len': config.train.seq_len,
          'hidden_dim': model_config.hidden_dim, 'vocab_size': model_config.vocab_size,
          'matmul_flops': flops, 'while_loops': _layer_time_loops(compiled.as_text()),
          'last_loss': lambda: float(box['loss'])}
  return (run, wait), info


def _layer_time_loops(hlo_text: str) -> int:
  """While loops of the compiled step that come from the layers' scans."""
  return sum(1 for line in hlo_text.splitlines()
             if ' while(' in line and re.search(r'layer_\d+\.scan/', line))


def interleaved_rounds(runners: dict[Any, Runner], rounds: int, steps: int
                       ) -> dict[Any, list[float]]:
  """Seconds per step of each runner, per round; the runners take turns."""
  per_step = {key: [] for key in runners}
  for _ in range(rounds):
    for key, (run, wait) in runners.items():
      t0 = time.perf_counter()
      for _ in range(steps):
        run()
      wait()
      per_step[key].append((time.perf_counter() - t0) / steps)
  return per_step


def _stats_ms(seconds: Sequence[float]) -> dict[str, float]:
  ms = [1e3 * s for s in seconds]
  return {'median_ms': statistics.median(ms), 'min_ms': min(ms), 'max_ms': max(ms),
          'rounds_ms': ms}


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
  q1, q2, q3 = np.percentile(np.asarray(values), [25, 50, 75])
  return float(q1), float(q2), float(q3)


def render_markdown(results: dict[str, Any]) -> str:
  m, s = results['machine'], results['settings']
  lines = [
      '## Where the seed training step\'s time goes (interleaved with the original)',
      '',
      f"Written by `scripts/seed_step_breakdown.py` on {m['date_utc']}"
      + (' — **`--quick` smoke run: not a benchmark.**' if s['quick'] else '.'),
      '',
      f"Command: `{results['command']}` (from the repository root).",
      '',
      f"Machine: {m['cpu']}, {m['cpus_available']} CPUs available, load average at start "
      f"{' / '.join(str(x) for x in m['load_average_at_start'])}; jax {m['jax']}"
      + (f", torch {s['torch_version']} at {s['torch_threads']} threads" if s['torch_version']
         else ', original not timed') + '.',
      '',
      f"Method: {s['rounds']} rounds; in each, every step function below runs "
      f"{s['steps']} steps in turn (the same machine load for all), after two warm-up steps. "
      "ms/step: median over rounds [min–max]. Speed-up: the original's time over ours in the "
      "same round, median [quartiles] over rounds. `no_backward_loop` and "
      "`no_recurrence` are ablations with wrong gradients (see the script's docstring): "
      "the time the step would take if the backward time loop, or every time loop, "
      "were free.",
      '',
      '| config | step | while loops | ms/step [min–max] | speed-up over the original '
      '[quartiles] |',
      '|---|---|---:|---:|---:|',
  ]
  for r in results['steps']:
    speedup = r.get('speedup')
    speed = (f"{speedup['median']:.2f}× [{speedup['q1']:.2f}–{speedup['q3']:.2f}]"
             if speedup else '—')
    lines.append(f"| {r['config']} | {r['ablation']} | {r['while_loops']} | {r['median_ms']:.2f} "
                 f"[{r['min_ms']:.2f}–{r['max_ms']:.2f}] | {speed} |")
  original = results.get('original')
  if original:
    lines.append(f"| original (PyTorch) | full | — | {original['median_ms']:.2f} "
                 f"[{original['min_ms']:.2f}–{original['max_ms']:.2f}] | 1 |")
  lines += ['', '| config | matmul FLOPs / step | measured matmul rate (shape) | '
            'matmul time at that rate (ms/step) | share of the full step |',
            '|---|---:|---:|---:|---:|']
  full_ms = {r['config']: r['median_ms'] for r in results['steps'] if r['ablation'] == 'full'}
  for name, floor in results['matmul_floor'].items():
    lines.append(f"| {name} | {floor['flops'] / 1e6:,.1f} M | "
                 f"{floor['rate_flops'] / 1e9:.1f} GFLOP/s ({floor['rate_shape']}) | "
                 f"{floor['floor_ms']:.2f} | {floor['floor_ms'] / full_ms[name]:.0%} |")
  if original:
    lines += ['', f"5× the original's median in these rounds would be "
              f"{original['median_ms'] / 5:.2f} ms/step."]
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)
  for name in _CONFIGS.value:
    if importlib.util.find_spec(f'experiments.configs.{name}') is None:
      raise app.UsageError(f'--configs: no experiments/configs/{name}.py.')
  quick = _QUICK.value
  rounds, steps = (1, 2) if quick else (_ROUNDS.value, _STEPS.value)
  settings = {'quick': quick, 'configs': list(_CONFIGS.value), 'rounds': rounds,
              'steps': steps, 'torch_threads': None, 'torch_version': None}
  results: dict[str, Any] = {
      'command': ' '.join(['python -m scripts.seed_step_breakdown', *sys.argv[1:]]),
      'machine': setup.machine_info(), 'settings': settings, 'steps': [],
      'matmul_floor': {}}

  runners, infos = {}, {}
  for name in settings['configs']:
    for ablation in ABLATIONS:
      print(f'[compile] {name} / {ablation}', flush=True)
      runners[(name, ablation)], infos[(name, ablation)] = build_step(name, ablation)
  if _TORCH.value:
    import torch  # pylint: disable=g-import-not-at-top
    torch.set_num_threads(_TORCH_THREADS.value)
    settings.update(torch_threads=_TORCH_THREADS.value, torch_version=torch.__version__)
    original_step, _ = setup.original_train_step()
    for _ in range(2):
      original_step()
    runners['original'] = (original_step, lambda: None)  # torch runs synchronously.
  print(f'[time] {rounds} rounds x {steps} steps x {len(runners)} step functions',
        flush=True)
  per_step = interleaved_rounds(runners, rounds, steps)

  original_s = per_step.get('original')
  for key, info in infos.items():
    loss = info.pop('last_loss')()
    if not math.isfinite(loss):
      raise FloatingPointError(f'{key}: non-finite loss {loss} while timing.')
    entry = {**info, **_stats_ms(per_step[key]), 'last_loss': loss}
    if original_s:
      q1, q2, q3 = _quartiles([o / ours for o, ours in zip(original_s, per_step[key])])
      entry['speedup'] = {'median': q2, 'q1': q1, 'q3': q3}
    results['steps'].append(entry)
  if original_s:
    results['original'] = _stats_ms(original_s)

  for name in settings['configs']:
    info = infos[(name, 'full')]
    rows = info['batch_size'] * info['seq_len']
    rate = matmul_rate(rows, info['hidden_dim'], info['hidden_dim'], info['matmul_dtype'],
                       repeats=3 if quick else 9)
    hidden = info['hidden_dim']
    results['matmul_floor'][name] = {
        'flops': info['matmul_flops'], 'rate_flops': rate,
        'rate_shape': f'[{rows}, {hidden}] @ [{hidden}, {hidden}]',
        'floor_ms': 1e3 * info['matmul_flops'] / rate}

  markdown = render_markdown(results)
  print(markdown)
  md_path = _OUTPUT_MD.value if (not quick or _OUTPUT_MD.present) else ''
  json_path = _OUTPUT_JSON.value if (not quick or _OUTPUT_JSON.present) else ''
  if md_path:
    common.write_marked_section(md_path, 'seed_step_breakdown', markdown,
                                '# Benchmarks: speed and memory')
  if json_path:
    with open(json_path, 'w') as f:
      json.dump(results, f, indent=1)


if __name__ == '__main__':
  app.run(main)
