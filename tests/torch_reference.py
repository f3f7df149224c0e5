"""A small PyTorch re-implementation of the original "Landauer LLM" (tests only).

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

from typing import Any

import torch
from torch import nn

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
    """phi_l * k for k = 0..H-1."""
    phi = self.base_phase / self.phase_scaling**layer
    return phi * torch.arange(self.hidden_dim, dtype=dtype)

  def step(self, u: torch.Tensor, hs: list[torch.Tensor]) -> list[torch.Tensor]:
    """One time step: u (B, e) and L states (B, H) -> L new states."""
    new = []
    for l, linear in enumerate(self.input_linears):
      h = hs[l]
      h = torch.tanh(linear(u) + self.hidden_scale[l] * h
                     * torch.cos(self.phases(l, h.dtype) + h))
      new.append(h)
      u = h
    return new


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

  def forward(self, tokens_BxT: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, V) for int tokens (B, T), from the zero state."""
    emb = self.token_embedding(tokens_BxT)
    b, t = tokens_BxT.shape
    hs = [emb.new_zeros(b, self.rnn.hidden_dim) for _ in range(self.rnn.num_layers)]
    logits = []
    for i in range(t):
      hs = self.rnn.step(emb[:, i], hs)
      logits.append(self.output_head(hs[-1]))
    return torch.stack(logits, dim=1)


def save_original_checkpoint(path: Any, model: nn.Module, config: dict,
                             itos: list) -> None:
  """Writes `{'model_state_dict', 'config', 'itos'}` with `torch.save`."""
  torch.save({'model_state_dict': model.state_dict(), 'config': dict(config),
              'itos': list(itos)}, path)
