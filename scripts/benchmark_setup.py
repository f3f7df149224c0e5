"""What the Landauer benchmarks share (no flags): the random-token corpus, the
experiment configs, repeated timings, a description of the machine, and the original PyTorch
model with its training step as the original code runs it.

Used by scripts/benchmark_landauer.py and scripts/seed_step_breakdown.py.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax
import jax
import numpy as np

from landauerjax import train

VOCAB_SIZE = 65  # Tiny Shakespeare's characters.
CORPUS_LEN = 200_000  # Random training tokens to draw windows from.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(name: str) -> Any:
  """get_config() of experiments/configs/<name>.py."""
  return importlib.import_module(f'experiments.configs.{name}').get_config()


def summary(seconds: Sequence[float]) -> dict[str, Any]:
  """Median, min and max of repeated timings (seconds) and the raw list."""
  return {'median_s': statistics.median(seconds), 'min_s': min(seconds),
          'max_s': max(seconds), 'repeats_s': list(seconds)}


def time_repeats(fn: Callable[[], None], repeats: int) -> dict[str, Any]:
  """Wall time (s) of `fn()` over `repeats` calls; `fn` must block until done."""
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return summary(times)


def machine_info() -> dict[str, Any]:
  """CPU, core counts, load average, library versions and the date (torch: None)."""
  cpu = platform.processor() or 'unknown'
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  info = {'cpu': cpu, 'logical_cpus': os.cpu_count(),
          'cpus_available': len(os.sched_getaffinity(0)),
          'load_average_at_start': [round(x, 2) for x in os.getloadavg()],
          'python': platform.python_version(), 'jax': jax.__version__,
          'jax_backend': jax.default_backend(), 'flax': flax.__version__,
          'numpy': np.__version__, 'torch': None, 'torch_threads': None,
          'date_utc': datetime.datetime.now(datetime.timezone.utc).strftime(
              '%Y-%m-%d %H:%M UTC')}
  return info


def torch_reference() -> Any:
  """tests/torch_reference.py as a module (tests/ is not a package)."""
  try:
    from tests import torch_reference  # pylint: disable=g-import-not-at-top
    return torch_reference
  except ImportError:
    path = os.path.join(REPO_ROOT, 'tests', 'torch_reference.py')
    spec = importlib.util.spec_from_file_location('torch_reference', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def original_model(torch: Any, config: Any) -> Any:
  """The original's model (tests/torch_reference.py) for `config`, seeded by config.seed."""
  ref = torch_reference()
  torch.manual_seed(config.seed)
  return ref.OriginalLandauerLM(
      VOCAB_SIZE, config.model.embed_dim, config.model.hidden_dim,
      config.model.num_layers, config.model.phase_scaling, config.model.base_phase)


def original_train_step() -> tuple[Callable[[], float], dict[str, Any]]:
  """The original's training step at the seed defaults, ready to time.

  Returns (step, info): `step()` draws a batch from random tokens, runs the
  per-time-step Python loop, backward, clipping and Adam, and returns the
  loss; `info` holds the parameter count, batch and window.
  """
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top
  config = load_config('landauer_original')
  batch, seq = config.train.batch_size, config.train.seq_len
  model = original_model(torch, config).train()
  optimizer = torch.optim.Adam(model.parameters(), lr=config.train.learning_rate)
  coefficient = train.inertia_coefficient(config.train.energy_weight,
                                          config.train.inertia_temperature)
  tokens = torch.from_numpy(np.random.default_rng(0).integers(
      0, VOCAB_SIZE, CORPUS_LEN).astype(np.int64))
  offsets = torch.arange(seq + 1)
  hidden = model.rnn.hidden_dim

  def step() -> float:
    starts = torch.randint(0, CORPUS_LEN - seq, (batch,))
    windows = tokens[starts[:, None] + offsets]
    inputs, targets = windows[:, :-1], windows[:, 1:]
    emb = model.token_embedding(inputs)
    hs = [emb.new_zeros(batch, hidden) for _ in range(model.rnn.num_layers)]
    logits, tops = [], []
    for t in range(seq):  # The original's per-time-step Python loop.
      hs = model.rnn.step(emb[:, t], hs)
      tops.append(hs[-1])
      logits.append(model.output_head(hs[-1]))
    logits_BxTxV, top_BxTxH = torch.stack(logits, 1), torch.stack(tops, 1)
    ce = F.cross_entropy(logits_BxTxV.reshape(-1, VOCAB_SIZE), targets.reshape(-1))
    energy = (top_BxTxH[:, 1:] - top_BxTxH[:, :-1]).pow(2).mean()
    loss = ce + coefficient * energy
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
    optimizer.step()
    return loss.item()

  info = {'config': 'original (PyTorch)', 'variant': 'original',
          'params': sum(p.numel() for p in model.parameters()),
          'batch_size': batch, 'seq_len': seq}
  return step, info
