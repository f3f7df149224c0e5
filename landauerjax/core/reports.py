"""Reports of results: JSON files, Markdown tables and the marked sections of docs/.

What the results and benchmark scripts write: the raw numbers as JSON
(`write_json`), a table between `<!-- NAME:start -->` and `<!-- NAME:end -->` of
a Markdown file such as docs/RESULTS.md, the prose around it kept
(`write_marked_section`), and the statistics of a measurement over seeds
(`seed_stats`). Model-free: the standard library and NumPy only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np


def write_text(path: str, text: str) -> None:
  """`text` to `path`, its folder created; replaced whole (a reader never sees half)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    f.write(text)
  os.replace(path + '.tmp', path)


def write_json(path: str, data: Any, *, indent: int = 1, default: Any = None) -> None:
  """`data` as JSON to `path` (as `write_text`); nothing when `path` is ''."""
  if path:
    write_text(path, json.dumps(data, indent=indent, default=default) + '\n')


def write_markdown_and_json(path: str, markdown: str, payload: Any) -> None:
  """`markdown` to `path` and `payload` as JSON beside it (`path` with .json)."""
  write_text(path, markdown + '\n')
  write_json(os.path.splitext(path)[0] + '.json', payload, indent=2)


def write_benchmark(results: Any, table: str, *, json_path: str, md_path: str,
                    section: str) -> None:
  """A benchmark's outputs: `results` as JSON to `json_path` and `table` into the
  `section` markers of `md_path` (each skipped when its path is '')."""
  write_json(json_path, results)
  if md_path:
    write_marked_section(md_path, section, table, '# Benchmarks')


def write_marked_section(path: str, name: str, body: str, title: str) -> None:
  """Puts `body` between `<!-- name:start -->` and `<!-- name:end -->` in `path`.

  Replaces what the markers held and keeps the rest of the file; appends the
  section when the file has no markers, and creates the file (headed by
  `title`) when it does not exist. A file with only one of the two markers is
  left untouched: ValueError.
  """
  start_marker, end_marker = f'<!-- {name}:start -->', f'<!-- {name}:end -->'
  block = f'{start_marker}\n{body.rstrip()}\n{end_marker}'
  text = ''
  if os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      text = f.read()
  start, end = text.find(start_marker), text.find(end_marker)
  if start >= 0 and end > start:
    text = text[:start] + block + text[end + len(end_marker):]
  elif start >= 0 or end >= 0:
    raise ValueError(f'{path} has only one of the markers {start_marker!r} / '
                     f'{end_marker!r}; fix it by hand.')
  elif text.strip():
    text = text.rstrip('\n') + '\n\n' + block + '\n'
  else:
    text = f'{title}\n\n{block}\n'
  write_text(path, text)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *,
                   left: int = 1) -> list[str]:
  """The lines of a Markdown table, then a blank line: the first `left` columns
  left-aligned, the others right-aligned (numbers)."""
  return ['| ' + ' | '.join(header) + ' |',
          '|' + '|'.join('---' if i < left else '---:' for i in range(len(header))) + '|',
          *('| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows), '']


def cell(x: float | None, spec: str = ',.0f', scale: float = 1.0) -> str:
  """`x / scale` formatted by `spec`, or '—' for None (not measured)."""
  return '—' if x is None else format(x / scale, spec)


def seed_stats(values: Sequence[float]) -> dict[str, float]:
  """{'mean', 'std' (sample standard deviation; 0 for one value), 'min', 'max', 'n'}."""
  x = np.asarray(values, np.float64)
  return {'mean': float(x.mean()), 'std': float(x.std(ddof=1)) if len(x) > 1 else 0.0,
          'min': float(x.min()), 'max': float(x.max()), 'n': len(x)}
