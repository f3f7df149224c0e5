"""Shared by the tests that need torch (import after pytest.importorskip('torch')):
the tiny shapes and a random PyTorch reference model."""

from __future__ import annotations

import torch

from landauerjax import torch_reference as ref

V, E, H, L, C = 11, 5, 7, 2, 1.618  # Vocabulary, embedding, hidden, layers, phase scaling.
B, T = 3, 9  # Batch, time.


def random_model(seed: int = 0) -> ref.OriginalLandauerLM:
  """The reference model with every parameter ~N(0, 0.7^2) (hidden_scale too), in eval mode."""
  torch.manual_seed(seed)
  model = ref.OriginalLandauerLM(V, E, H, L, C)
  with torch.no_grad():
    for p in model.parameters():
      p.copy_(torch.randn_like(p) * 0.7)  # Nonzero, incl. random hidden_scale.
  return model.eval()
