"""experiments.common.write_marked_section: the results/benchmark scripts' doc writer."""

from __future__ import annotations

import ml_collections
import pytest

from experiments import common


def test_replaces_only_the_marked_section(tmp_path):
  path = tmp_path / 'R.md'
  path.write_text('# R\n\nbefore\n<!-- x:start -->\nold\n<!-- x:end -->\nafter\n')
  common.write_marked_section(str(path), 'x', 'new\n', '# unused')
  assert path.read_text() == '# R\n\nbefore\n<!-- x:start -->\nnew\n<!-- x:end -->\nafter\n'


def test_appends_to_a_file_without_markers_and_creates_a_missing_one(tmp_path):
  path = tmp_path / 'R.md'
  path.write_text('# R\n\nprose\n')
  common.write_marked_section(str(path), 'x', 'body', '# unused')
  assert path.read_text() == '# R\n\nprose\n\n<!-- x:start -->\nbody\n<!-- x:end -->\n'
  fresh = tmp_path / 'sub' / 'B.md'
  common.write_marked_section(str(fresh), 'y', 'body', '# Title')
  assert fresh.read_text() == '# Title\n\n<!-- y:start -->\nbody\n<!-- y:end -->\n'


def test_a_lone_marker_is_an_error_and_the_file_is_kept(tmp_path):
  path = tmp_path / 'R.md'
  path.write_text('<!-- x:start -->\nhalf a section\n')
  with pytest.raises(ValueError, match='only one of the markers'):
    common.write_marked_section(str(path), 'x', 'body', '# R')
  assert path.read_text() == '<!-- x:start -->\nhalf a section\n'


def test_old_config_key_spellings_are_rewritten_only_where_renamed():
  new = ml_collections.ConfigDict({'train': {'inertia_temperature': 0.05}})
  old = ml_collections.ConfigDict({'train': {'temperature': 0.05}})
  renamed = {'train.temperature': 'train.inertia_temperature'}
  argv = ['prog', '--config.train.temperature=0.1', '--config.train.temperature_x=1', '--x']
  assert common.rename_config_flags(argv, renamed, new) == [
      'prog', '--config.train.inertia_temperature=0.1', '--config.train.temperature_x=1', '--x']
  assert common.rename_config_flags(argv, renamed, old) == argv  # An old config file.
