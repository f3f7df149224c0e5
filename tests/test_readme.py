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
