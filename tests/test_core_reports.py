"""landauerjax.core.reports: JSON results, Markdown tables, the marked sections of docs/."""

from __future__ import annotations

import json

import pytest

from landauerjax.core import reports


def test_replaces_only_the_marked_section(tmp_path):
  path = tmp_path / 'R.md'
  path.write_text('# R\n\nbefore\n<!-- x:start -->\nold\n<!-- x:end -->\nafter\n')
  reports.write_marked_section(str(path), 'x', 'new\n', '# unused')
  assert path.read_text() == '# R\n\nbefore\n<!-- x:start -->\nnew\n<!-- x:end -->\nafter\n'


def test_appends_to_a_file_without_markers_and_creates_a_missing_one(tmp_path):
  path = tmp_path / 'R.md'
  path.write_text('# R\n\nprose\n')
  reports.write_marked_section(str(path), 'x', 'body', '# unused')
  assert path.read_text() == '# R\n\nprose\n\n<!-- x:start -->\nbody\n<!-- x:end -->\n'
  fresh = tmp_path / 'sub' / 'B.md'
  reports.write_marked_section(str(fresh), 'y', 'body', '# Title')
  assert fresh.read_text() == '# Title\n\n<!-- y:start -->\nbody\n<!-- y:end -->\n'


def test_a_lone_marker_is_an_error_and_the_file_is_kept(tmp_path):
  path = tmp_path / 'R.md'
  path.write_text('<!-- x:start -->\nhalf a section\n')
  with pytest.raises(ValueError, match='only one of the markers'):
    reports.write_marked_section(str(path), 'x', 'body', '# R')
  assert path.read_text() == '<!-- x:start -->\nhalf a section\n'


def test_json_is_written_whole_with_its_folder_and_nothing_for_no_path(tmp_path):
  path = tmp_path / 'sub' / 'r.json'
  reports.write_json(str(path), {'a': [1, 2]})
  assert json.loads(path.read_text()) == {'a': [1, 2]}
  assert [p.name for p in path.parent.iterdir()] == ['r.json']  # No temporary left.
  reports.write_json('', {'a': 1})  # '' = none: nothing written, no error.
  md = tmp_path / 'p.md'
  reports.write_markdown_and_json(str(md), '| a |', {'b': 2})
  assert md.read_text() == '| a |\n' and json.loads((tmp_path / 'p.json').read_text()) == {'b': 2}


def test_markdown_table_aligns_numbers_right():
  assert reports.markdown_table(['name', 'n'], [['x', 1]]) == [
      '| name | n |', '|---|---:|', '| x | 1 |', '']
  assert reports.markdown_table(['a', 'b', 'c'], [], left=2)[1] == '|---|---|---:|'
  assert reports.cell(None) == '—' and reports.cell(2e9, ',.1f', 1e9) == '2.0'


def test_seed_stats():
  assert reports.seed_stats([1.0, 2.0, 3.0]) == {'mean': 2.0, 'std': 1.0, 'min': 1.0,
                                                 'max': 3.0, 'n': 3}
  assert reports.seed_stats([1.5])['std'] == 0.0
