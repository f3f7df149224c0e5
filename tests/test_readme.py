"""Executes the README's research-script snippets so they never go stale.

They run eagerly, as a reader would, so every JAX primitive compiles on its own
(~40 s on a 2-core CPU): the slow CI step (pytest -m slow), like the notebook.
"""

import math
import os
import re

import pytest

pytestmark = pytest.mark.slow

README = os.path.join(os.path.dirname(__file__), '..', 'README.md')


def test_readme_snippet_runs(capsys):
  text = open(README).read()
  block = text.split('<!-- readme-snippet:start -->')[1].split('<!-- readme-snippet:end -->')[0]
  code = re.search(r'```python\n(.*?)```', block, re.S).group(1)
  exec(compile(code, 'README.md', 'exec'), {'__name__': 'readme_snippet'})
  out = capsys.readouterr().out
  assert out.startswith('loss ')
  assert 'To ' not in out.splitlines()[0]
  first = out.splitlines()[0].split()
  assert first[0] == 'loss' and math.isfinite(float(first[1])) and float(first[1]) > 0
  assert len(out.splitlines()[-1]) == 20  # The 20 sampled characters.


def test_readme_field_snippet_runs(capsys):
  text = open(README).read()
  block = text.split('<!-- field-snippet:start -->')[1].split('<!-- field-snippet:end -->')[0]
  code = re.search(r'```python\n(.*?)```', block, re.S).group(1)
  exec(compile(code, 'README.md', 'exec'), {'__name__': 'readme_field_snippet'})
  lines = capsys.readouterr().out.splitlines()
  assert lines[0].startswith('|dW| = ') and float(lines[0].split()[-1]) > 0
  words = lines[1].split()
  assert words[0] == 'token' and 0 <= int(words[1]) < 32
  steps, coherence = int(words[3]), float(words[-1])
  assert coherence >= 0.91 or steps == 64  # Collapsed at the threshold, or hit the cap.


def _snippet(marker: str, directory: str) -> str:
  text = open(README).read()
  block = text.split(f'<!-- {marker}:start -->')[1].split(f'<!-- {marker}:end -->')[0]
  code = re.search(r'```python\n(.*?)```', block, re.S).group(1)
  return code.replace("'/tmp/best_export'", repr(directory)).replace("'/tmp/field_export'",
                                                                      repr(directory))


def test_readme_export_snippets_run(tmp_path):
  """Both export snippets, on exports of freshly initialised tiny models whose vocabularies
  hold the snippets' prompts."""
  import jax  # pylint: disable=g-import-not-at-top
  from fieldjax import checkpoints as field_checkpoints  # pylint: disable=g-import-not-at-top
  from fieldjax import model as field_model  # pylint: disable=g-import-not-at-top
  from landauerjax import checkpoints, models  # pylint: disable=g-import-not-at-top
  from landauerjax.core import tokenizers  # pylint: disable=g-import-not-at-top
  vocab = tokenizers.CharVocab.from_texts('To be, ROMEO:')
  config = models.ModelConfig(vocab_size=vocab.size, embed_dim=8, hidden_dim=8)
  loaded = checkpoints.Inference(models.init_params(config, jax.random.PRNGKey(0)), config,
                                 vocab, {}, 0)
  checkpoints.export(loaded, str(tmp_path / 'landauer'))
  scope = {}
  exec(compile(_snippet('landauer-export-snippet', str(tmp_path / 'landauer')), 'README.md',
               'exec'), scope)
  assert scope['logits_BxTxV'].shape == (1, 5, vocab.size)

  cfg = field_model.ModelConfig(vocab_size=vocab.size, embed_dim=8, lags=3, lattice_dim=32)
  field_checkpoints.export((0, field_model.init_params(cfg, jax.random.PRNGKey(0)), cfg,
                            {'tokenizer': vocab.to_json()}), str(tmp_path / 'field'))
  scope = {}
  exec(compile(_snippet('field-export-snippet', str(tmp_path / 'field')), 'README.md', 'exec'),
       scope)
  log_probs = scope['log_probs_BxTxV']
  assert log_probs.shape == (1, 6, vocab.size)
  assert abs(float(jax.numpy.exp(log_probs).sum(-1).mean()) - 1) < 1e-5
