"""landauerjax.torch_reference: the original's equations, training step and sampling."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip('torch')

# pylint: disable=g-import-not-at-top
from landauerjax import torch_reference as ref
from torch_fixtures import B, C, E, H, L, T, V
from torch_fixtures import random_model as _random_model

# float32 torch against a float64 loop after a 9-step tanh/cos recurrence.
LOGIT_ATOL = 5e-5



def _numpy_loop(model: ref.OriginalLandauerLM, tokens: np.ndarray) -> np.ndarray:
  """The equations, unit by unit and step by step, in float64."""
  sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
  emb = sd['token_embedding.weight']
  h = np.zeros((L, H))
  out = np.zeros((B, T, V))
  for b in range(B):
    h[:] = 0.0
    for t in range(T):
      u = emb[tokens[b, t]]
      for l in range(L):
        phi = ref.GOLDEN_ANGLE / C**l
        w, bias = sd[f'rnn.input_linears.{l}.weight'], sd[f'rnn.input_linears.{l}.bias']
        new = np.empty(H)
        for k in range(H):
          hk = h[l, k]
          new[k] = np.tanh(w[k] @ u + bias[k]
                           + sd['rnn.hidden_scale'][l, k] * hk * np.cos(phi * k + hk))
        h[l] = new
        u = new
      out[b, t] = sd['output_head.weight'] @ u + sd['output_head.bias']
  return out


def test_forward_matches_numpy_loop():
  model = _random_model()
  tokens = np.random.default_rng(1).integers(0, V, (B, T))
  with torch.no_grad():
    logits = model(torch.from_numpy(tokens)).numpy()
  np.testing.assert_allclose(logits, _numpy_loop(model, tokens), atol=LOGIT_ATOL, rtol=0)
  assert [n for n, _ in model.named_parameters()] == [
      'token_embedding.weight', 'rnn.hidden_scale', 'rnn.input_linears.0.weight',
      'rnn.input_linears.0.bias', 'rnn.input_linears.1.weight',
      'rnn.input_linears.1.bias', 'output_head.weight', 'output_head.bias']
  assert model.rnn.hidden_scale.shape == (L, H)




def test_train_step_learns_a_repeated_sequence():
  torch.manual_seed(0)
  model = ref.OriginalLandauerLM(V, E, H, L, C)
  tokens_N = torch.arange(V).repeat(40)  # 0, 1, ..., V-1, 0, 1, ...: fully predictable.
  step = ref.make_train_step(model, tokens_N, batch_size=4, seq_len=8, learning_rate=3e-2,
                             grad_clip=1.0, inertia_coefficient=0.0024)
  losses = [step() for _ in range(60)]
  assert all(np.isfinite(losses))
  assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses


def test_sample_is_seeded_and_in_the_vocabulary():
  model = _random_model()
  first, again, other = (ref.sample(model, 50, seed=s) for s in (3, 3, 4))
  assert len(first) == 50 and all(0 <= t < V for t in first)
  assert first == again and first != other
