"""The original "Landauer LLM" in PyTorch, re-implemented from its equations.

The reference that `landauerjax` is checked and timed against: the tests
compare it with a NumPy loop and with checkpoints converted by
`landauerjax.torch_import`; `landauerjax.profiling` (for
`scripts/benchmark_landauer.py`) trains and samples it the way the original code
does, one Python-level step per character. Needs PyTorch (the optional `[torch]`
extra); nothing else in `landauerjax` imports this module (profiling only when
it times it).

Written from the equations, not from `landauerjax.models`:
  token embedding E (V x e); layers l = 0..L-1; the input u of layer 0 is the
  embedding, of layer l > 0 the new state of layer l-1; per time step, with
  k = 0..H-1 the unit index,
    h_l <- tanh(W_l u + b_l + s_l * h_l * cos(phi_l * k + h_l)),
    phi_l = phi_0 / c**l;
  logits = W_o h_{L-1} + b_o.
Parameter names match the original's state dict: `token_embedding.weight`,
`rnn.input_linears.{l}.weight/bias`, `rnn.hidden_scale` (L, H),
`output_head.weight/bias`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

GOLDEN_ANGLE = 2.39996322972865332  # phi_0, radians.


class AperiodicRNN(nn.Module):
  """The recurrent stack: per-layer input projections and hidden scales."""

  def __init__(self, embed_dim: int, hidden_dim: int, num_layers: int,
               phase_scaling: float, base_phase: float = GOLDEN_ANGLE):
    super().__init__()
    self.hidden_dim = hidden_dim
    self.num_layers = num_layers
    self.phase_scaling = phase_scaling
    self.base_phase = base_phase
    self.input_linears = nn.ModuleList(
        nn.Linear(embed_dim if l == 0 else hidden_dim, hidden_dim)
        for l in range(num_layers))
    self.hidden_scale = nn.Parameter(torch.ones(num_layers, hidden_dim))

  def phases(self, layer: int, dtype: torch.dtype) -> torch.Tensor:
    """phi_l * k for k = 0..H-1: shape (H,)."""
    phi = self.base_phase / self.phase_scaling**layer
    return phi * torch.arange(self.hidden_dim, dtype=dtype)

  def step(self, u: torch.Tensor, hs: list[torch.Tensor]) -> list[torch.Tensor]:
    """One time step: u (B, e) and L states (B, H) -> L new states (B, H)."""
    new = []
    for l, linear in enumerate(self.input_linears):
      h = hs[l]
      h = torch.tanh(linear(u) + self.hidden_scale[l] * h
                     * torch.cos(self.phases(l, h.dtype) + h))
      new.append(h)
      u = h
    return new

  def zero_state(self, batch_size: int) -> list[torch.Tensor]:
    """L zero states (B, H)."""
    return [torch.zeros(batch_size, self.hidden_dim) for _ in range(self.num_layers)]


class OriginalLandauerLM(nn.Module):
  """Embedding -> aperiodic RNN -> linear head, as in the original PyTorch code."""

  def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int,
               num_layers: int, phase_scaling: float,
               base_phase: float = GOLDEN_ANGLE):
    super().__init__()
    self.token_embedding = nn.Embedding(vocab_size, embed_dim)
    self.rnn = AperiodicRNN(embed_dim, hidden_dim, num_layers, phase_scaling,
                            base_phase)
    self.output_head = nn.Linear(hidden_dim, vocab_size)

  def forward_with_states(self, tokens_BxT: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, T, V) and top-layer states (B, T, H) from the zero state."""
    emb_BxTxE = self.token_embedding(tokens_BxT)
    hs = [emb_BxTxE.new_zeros(tokens_BxT.shape[0], self.rnn.hidden_dim)
          for _ in range(self.rnn.num_layers)]
    logits, tops = [], []
    for t in range(tokens_BxT.shape[1]):  # The original's per-time-step Python loop.
      hs = self.rnn.step(emb_BxTxE[:, t], hs)
      tops.append(hs[-1])
      logits.append(self.output_head(hs[-1]))
    return torch.stack(logits, dim=1), torch.stack(tops, dim=1)

  def forward(self, tokens_BxT: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, V) for int tokens (B, T), from the zero state."""
    return self.forward_with_states(tokens_BxT)[0]


def make_train_step(model: OriginalLandauerLM, tokens_N: torch.Tensor, *, batch_size: int,
                    seq_len: int, learning_rate: float, grad_clip: float,
                    inertia_coefficient: float) -> Callable[[], float]:
  """The original's training step, ready to call repeatedly.

  Each call draws B random windows of T + 1 tokens from `tokens_N` (int64
  [N]), runs the per-time-step loop, the loss CE + coefficient * mean squared
  velocity of the top states (|h_{t+1} - h_t|^2), backward, gradient-norm
  clipping and one Adam update, and returns the loss (a float).
  """
  optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
  offsets = torch.arange(seq_len + 1)
  vocab_size = model.output_head.out_features

  def step() -> float:
    starts = torch.randint(0, len(tokens_N) - seq_len, (batch_size,))
    windows_BxT1 = tokens_N[starts[:, None] + offsets]
    logits_BxTxV, top_BxTxH = model.forward_with_states(windows_BxT1[:, :-1])
    ce = F.cross_entropy(logits_BxTxV.reshape(-1, vocab_size),
                         windows_BxT1[:, 1:].reshape(-1))
    energy = (top_BxTxH[:, 1:] - top_BxTxH[:, :-1]).pow(2).mean()
    loss = ce + inertia_coefficient * energy
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()

  return step


def sample(model: OriginalLandauerLM, num_chars: int, seed: int = 0) -> list[int]:
  """The original's sampling: one model step and one `torch.multinomial` per character.

  Starts from token 0 and the zero state, temperature 1, batch 1; returns the
  `num_chars` sampled token ids.
  """
  generator = torch.Generator().manual_seed(seed)
  out = []
  with torch.no_grad():
    hs = model.rnn.zero_state(1)
    token = torch.zeros(1, dtype=torch.long)
    for _ in range(num_chars):
      hs = model.rnn.step(model.token_embedding(token), hs)
      probs = torch.softmax(model.output_head(hs[-1]), dim=-1)
      token = torch.multinomial(probs, 1, generator=generator)[:, 0]
      out.append(int(token))
  return out


def save_original_checkpoint(path: Any, model: nn.Module, config: dict,
                             itos: list) -> None:
  """Writes `{'model_state_dict', 'config', 'itos'}` with `torch.save`, as the original does."""
  torch.save({'model_state_dict': model.state_dict(), 'config': dict(config),
              'itos': list(itos)}, path)
