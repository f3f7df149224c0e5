r"""Does generation fall into a loop? The top-layer state trajectory of a trained model.

  python -m experiments.demo_trajectory --workdir=/tmp/landauer_original \
    --prompt="ROMEO:" --num_chars=5000 --seed=0 --temperature=1.0 \
    --output=trajectory.png

Samples `--num_chars` characters with `sampling.generate(..., return_states=True)`
and records the top layer's output h_t after each character (complex states
are split into real and imaginary parts). Writes a 3-panel PNG:
  (i)   the trajectory projected on its first two principal components,
        coloured by time;
  (ii)  its autocorrelation: the mean cosine similarity of the mean-removed
        states h_t and h_{t+lag}, for lag = 1..--max_lag characters. A loop of
        period P gives peaks near 1 at multiples of P;
  (iii) a recurrence plot over --recurrence_points evenly spaced states: a dot
        where ||h_i - h_j|| < eps, eps = --recurrence_eps x the median
        pairwise distance.
and prints one JSON line of statistics computed from the run: the largest
autocorrelation beyond lag --min_loop_lag, the recurrence rate, the longest
repeated substring and the best period of the last --text_window characters,
and a verdict derived from them with the thresholds it names.
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags
from absl import logging
import jax
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from experiments import common
from landauerjax import checkpoints
from landauerjax import sampling
from landauerjax import trajectory
from landauerjax import xla_cpu

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Training workdir holding checkpoints/.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
flags.DEFINE_string('prompt', '\n', 'Text to continue (characters of the vocabulary).')
flags.DEFINE_integer('num_chars', 5000, 'Characters to generate.', lower_bound=2)
flags.DEFINE_integer('seed', 0, 'PRNG seed.')
flags.DEFINE_float('temperature', 1.0, 'Softmax temperature; 0 is greedy.', lower_bound=0.0)
flags.DEFINE_integer('top_k', 0, 'Sample among the k most likely characters; 0 = all.',
                     lower_bound=0)
flags.DEFINE_string('output', '', 'Output PNG path (default: trajectory.png in --workdir).')
flags.DEFINE_integer('max_lag', 500, 'Largest autocorrelation lag (characters).',
                     lower_bound=1)
flags.DEFINE_integer('min_loop_lag', 50, 'Smallest lag (characters) searched for a loop.',
                     lower_bound=1)
flags.DEFINE_integer('recurrence_points', 600, 'States in the recurrence plot.',
                     lower_bound=2)
flags.DEFINE_float('recurrence_eps', 0.1,
                   'Recurrence threshold as a fraction of the median pairwise distance.',
                   lower_bound=0.0)
flags.DEFINE_integer('text_window', 1000, 'Last characters checked for repetition.',
                     lower_bound=2)
flags.DEFINE_float('loop_autocorr', 0.9,
                   'Verdict: a state loop needs autocorrelation above this beyond '
                   '--min_loop_lag.')
flags.DEFINE_float('periodic_match', 0.95,
                   'Verdict: the text is periodic when some period p <= window/2 '
                   'has s[i] == s[i+p] for at least this fraction of i.')
flags.mark_flag_as_required('workdir')


def plot(path: str, projection: np.ndarray, variance: np.ndarray, autocorr: np.ndarray,
         min_loop_lag: int, rec: np.ndarray, rec_index: np.ndarray, eps: float,
         rate: float, title: str) -> None:
  """Writes the 3-panel figure to `path` (PNG)."""
  fig, axes = plt.subplots(1, 3, figsize=(20, 6.2), layout='constrained')
  fig.get_layout_engine().set(wspace=0.06)
  time_steps = np.arange(1, len(projection) + 1)

  ax = axes[0]
  points = ax.scatter(projection[:, 0], projection[:, 1], c=time_steps, s=3,
                      cmap='viridis')
  fig.colorbar(points, ax=ax, label='time step t (characters generated)')
  ax.set_xlabel(f'PC 1 ({100 * variance[0]:.1f}% of variance)')
  ax.set_ylabel(f'PC 2 ({100 * variance[1]:.1f}% of variance)')
  ax.set_title('(i) Top-layer state trajectory, PCA projection')

  ax = axes[1]
  lags = np.arange(1, len(autocorr) + 1)
  ax.plot(lags, autocorr, lw=1.0, color='tab:blue')
  ax.axhline(0.0, color='0.5', lw=0.6)
  ax.axhline(1.0, color='0.5', lw=0.6, ls=':')
  ax.axvline(min_loop_lag, color='tab:red', lw=0.8, ls='--',
             label=f'lag {min_loop_lag} (loop search starts)')
  if len(autocorr) >= min_loop_lag:
    k = min_loop_lag - 1 + int(np.argmax(autocorr[min_loop_lag - 1:]))
    ax.plot(lags[k], autocorr[k], 'o', color='tab:red',
            label=f'max beyond: {autocorr[k]:.3f} at lag {lags[k]}')
  ax.set_ylim(min(-0.1, autocorr.min() - 0.05), 1.05)
  ax.set_xlabel('lag (characters)')
  ax.set_ylabel(r'mean$_t$ cos($h_t$, $h_{t+\mathrm{lag}}$), mean state removed')
  ax.set_title('(ii) State autocorrelation')
  ax.legend(loc='upper right')

  ax = axes[2]
  extent = (rec_index[0] + 1, rec_index[-1] + 1, rec_index[0] + 1, rec_index[-1] + 1)
  ax.imshow(rec, origin='lower', cmap='Greys', extent=extent, interpolation='nearest')
  ax.set_xlabel('time step i (characters)')
  ax.set_ylabel('time step j (characters)')
  ax.set_title(f'(iii) Recurrence plot, {len(rec_index)} states: '
               f'||h_i - h_j|| < {eps:.3g}\nrecurrence rate {100 * rate:.2f}% off the diagonal')
  fig.suptitle(title)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  xla_cpu.hoist_sampling_loops()  # Before any JAX computation: up to ~1.9x faster on CPU.
  common.quiet_libraries()
  loaded, model, prompt_ids = checkpoints.load_for_prompt(
      FLAGS.workdir, FLAGS.step, FLAGS.prompt)
  tokens, states = [], []
  for chunk_tokens, chunk_states in sampling.generate(
      loaded.params, model, prompt_ids, FLAGS.num_chars, jax.random.PRNGKey(FLAGS.seed),
      temperature=FLAGS.temperature, top_k=FLAGS.top_k, return_states=True):
    tokens.append(chunk_tokens)
    states.append(chunk_states)
  text = loaded.vocab.decode(np.concatenate(tokens))
  raw = np.concatenate(states)
  states_NxD = trajectory.real_states(raw)
  logging.info('Generated %d characters; the last 300:\n%s', len(text), text[-300:])

  projection, variance = trajectory.pca_2d(states_NxD)
  autocorr = trajectory.autocorrelation(states_NxD, FLAGS.max_lag)
  rec, rec_index, eps, rate = trajectory.recurrence(states_NxD, FLAGS.recurrence_points,
                                         FLAGS.recurrence_eps)
  tail = text[-FLAGS.text_window:]
  repeated = trajectory.longest_repeated_substring(tail)
  period, match = trajectory.best_period(tail)
  beyond = autocorr[FLAGS.min_loop_lag - 1:]
  max_beyond = round(float(beyond.max()), 4) if beyond.size else None  # None: too short.
  lag_beyond = FLAGS.min_loop_lag + int(beyond.argmax()) if beyond.size else None
  state_loop = bool(beyond.size and beyond.max() > FLAGS.loop_autocorr)
  above = np.flatnonzero(autocorr > FLAGS.loop_autocorr)
  state_period = int(above[0]) + 1 if state_loop else None  # First lag above it.
  text_periodic = match >= FLAGS.periodic_match
  verdict = {
      'workdir': FLAGS.workdir, 'step': loaded.step,
      'variant': loaded.model_config.variant, 'chars': len(text),
      'temperature': FLAGS.temperature, 'seed': FLAGS.seed,
      'state_dim': int(states_NxD.shape[1]), 'complex_state': bool(np.iscomplexobj(raw)),
      'pca_variance_fraction': [round(float(v), 4) for v in variance],
      f'max_autocorr_beyond_lag_{FLAGS.min_loop_lag}': max_beyond,
      'argmax_lag': lag_beyond,
      'state_period': state_period,
      'recurrence_rate': round(rate, 5), 'recurrence_eps': round(eps, 5),
      f'longest_repeat_in_last_{len(tail)}': len(repeated),
      'longest_repeat_text': repeated[:80],
      f'best_period_of_last_{len(tail)}': period,
      'period_match_fraction': round(match, 4),
      'state_loop': state_loop,
      'text_periodic': text_periodic,
      'loop': state_loop or text_periodic,
      'criteria': (f'state_loop: autocorr > {FLAGS.loop_autocorr} at some lag >= '
                   f'{FLAGS.min_loop_lag}; text_periodic: s[i] == s[i+p] for >= '
                   f'{FLAGS.periodic_match:.0%} of the last {len(tail)} chars'),
  }
  title = (f"{os.path.abspath(FLAGS.workdir)} (step {loaded.step}, "
           f"{loaded.model_config.variant}): {len(text):,} characters at temperature "
           f"{FLAGS.temperature:g}, seed {FLAGS.seed} — "
           f"{'LOOP' if verdict['loop'] else 'no loop'} (max autocorr beyond lag "
           f"{FLAGS.min_loop_lag}: {max_beyond}; text period match {match:.2f} at p={period})")
  output = FLAGS.output or os.path.join(FLAGS.workdir, 'trajectory.png')
  plot(output, projection, variance, autocorr, FLAGS.min_loop_lag, rec, rec_index,
       eps, rate, title)
  logging.info('Wrote %s.', output)
  print(json.dumps(verdict, allow_nan=False))


def cli() -> None:
  """The command line: `main` with one-line errors (experiments.common.run)."""
  common.run(main)


if __name__ == '__main__':
  cli()
