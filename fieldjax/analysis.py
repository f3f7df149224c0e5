"""Looking inside the field: trajectories, coherence, gravity, Hebbian amplification."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fieldjax import collapse as collapse_lib
from fieldjax import constants
from fieldjax import embeddings
from fieldjax import field
from fieldjax import model as model_lib


def field_trajectory(params: dict[str, jax.Array], tokens_T: np.ndarray,
                     cfg: model_lib.ModelConfig, num_steps: int | None = None
                     ) -> dict[str, np.ndarray]:
  """The unperturbed evolution of one sequence, step by step.

  Returns:
    {'positions': [S + 1, T, d], 'coherence': [S + 1], 'gravity': [T, T]
    (A of the final field), 'masses': [T]}.
  """
  steps = cfg.field.num_steps if num_steps is None else num_steps
  tokens_T = jnp.asarray(tokens_T, jnp.int32)
  x = model_lib.embedding_table(cfg)[tokens_T]
  mass = model_lib.token_masses(params['counts'])[tokens_T]
  dt = jnp.float32(cfg.perturbation.dt)

  def step(x, _):
    new = field.field_step(x, mass, dt, cfg.field)
    return new, new

  _, xs = jax.lax.scan(step, x, None, length=steps)
  positions = jnp.concatenate([x[None], xs])
  coherence = jax.vmap(collapse_lib.coherence)(positions)
  gravity = field.full_gravity_matrix(positions[-1], mass, cfg.field)
  return {'positions': np.asarray(positions), 'coherence': np.asarray(coherence),
          'gravity': np.asarray(gravity), 'masses': np.asarray(mass)}


def pca_2d(points_NxD: np.ndarray) -> np.ndarray:
  """Projection on the two principal axes, [N, 2]."""
  centred = points_NxD - points_NxD.mean(0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  return centred @ vt[:2].T


def plot_field_evolution(trajectory: dict[str, np.ndarray], labels: list[str],
                         save_path: str, title: str = '',
                         threshold: float = constants.COLLAPSE_THRESHOLD) -> None:
  """Three panels: particle paths (PCA), coherence per step, gravity matrix."""
  # A Figure of its own: no global matplotlib backend is changed.
  from matplotlib import cm  # pylint: disable=g-import-not-at-top
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  pos = trajectory['positions']
  steps, length, dim = pos.shape
  flat = pca_2d(pos.reshape(-1, dim)).reshape(steps, length, 2)
  fig = Figure(figsize=(15, 4.6))
  axes = fig.subplots(1, 3)
  ax = axes[0]
  colours = cm.viridis(np.linspace(0, 1, length))
  for t in range(length):
    ax.plot(flat[:, t, 0], flat[:, t, 1], '-', color=colours[t], lw=1, alpha=0.7)
    ax.plot(flat[-1, t, 0], flat[-1, t, 1], 'o', color=colours[t], ms=4)
    if length <= 40:
      ax.annotate(repr(labels[t])[1:-1], flat[-1, t], fontsize=8)
  ax.set_xlabel('principal component 1 of the positions')
  ax.set_ylabel('principal component 2')
  ax.set_title('particles: start -> end of evolution (PCA)')
  ax = axes[1]
  ax.plot(np.arange(steps), trajectory['coherence'], 'o-')
  ax.axhline(threshold, color='r', ls='--', lw=1, label=f'collapse threshold {threshold:g}')
  ax.set_xlabel('integration step')
  ax.set_ylabel('field coherence')
  ax.set_ylim(0, 1)
  ax.legend()
  ax.set_title('coherence over the evolution')
  ax = axes[2]
  im = ax.imshow(np.log10(trajectory['gravity'] + 1e-6), cmap='magma')
  fig.colorbar(im, ax=ax, label='log10 A[t, s]')
  for axis in (ax.xaxis, ax.yaxis):  # Particle indices are whole numbers.
    axis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel('source s')
  ax.set_ylabel('particle t')
  ax.set_title('gravitational matrix (causal)')
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(save_path, dpi=110)


def hebbian_amplification(tokens_N: np.ndarray, vocab_size: int, dim: int
                          ) -> dict[str, Any]:
  """Measures what the log-phase transform does to a Hebbian memory.

  Memory: M = sum_t onehot(x_{t+1}) (x) e(x_t) over the corpus, i.e. the
  Hebbian update dW = eta <post (x) pre> with the next token as post and the
  current token's embedding as pre (eta cancels in every ratio).

  Returns ratios log_phase / golden of
    'raw_norm': |M|_F with the embeddings as the transform leaves them
                (this depends on the transform's scale s);
    'unit_norm': |M|_F with every embedding rescaled to unit norm (geometry
                only);
    'recall_snr': the signal-to-crosstalk ratio of recalling a token's
                successor counts from M: for each token v, M e(v) compared
                with the counts row of v, as the ratio of the matching part
                to the rest (unit-norm embeddings);
  and the raw values for both embeddings.
  """
  tokens_N = np.asarray(tokens_N)
  counts_VxV = np.zeros((vocab_size, vocab_size))
  np.add.at(counts_VxV, (tokens_N[1:], tokens_N[:-1]), 1.0)  # [next, current]
  out: dict[str, Any] = {}
  for kind in ('golden', 'log_phase'):
    raw = embeddings.embedding_table(kind, vocab_size, dim, normalize=False)
    unit = embeddings.embedding_table(kind, vocab_size, dim, normalize=True)
    m_raw = counts_VxV @ raw  # [V_next, d] = sum_t onehot(next) (x) e(current)
    m_unit = counts_VxV @ unit
    recalled = m_unit @ unit.T  # [V_next, V_current]: counts smeared by overlaps.
    signal = np.sum(counts_VxV * recalled)
    total = np.sqrt(np.sum(recalled ** 2) * np.sum(counts_VxV ** 2))
    crosstalk = max(total - signal, 1e-12)
    out[kind] = {'raw_norm': float(np.linalg.norm(m_raw)),
                 'unit_norm': float(np.linalg.norm(m_unit)),
                 'recall_snr': float(signal / crosstalk),
                 'mean_embedding_norm': float(np.linalg.norm(raw, axis=1).mean())}
  for key in ('raw_norm', 'unit_norm', 'recall_snr'):
    out[key] = out['log_phase'][key] / out['golden'][key]
  return out
