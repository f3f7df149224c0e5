"""experiments.common: what the entry points share (old spellings of config keys)."""

from __future__ import annotations

import ml_collections

from experiments import common


def test_old_config_key_spellings_are_rewritten_only_where_renamed():
  new = ml_collections.ConfigDict({'train': {'inertia_temperature': 0.05}})
  old = ml_collections.ConfigDict({'train': {'temperature': 0.05}})
  renamed = {'train.temperature': 'train.inertia_temperature'}
  argv = ['prog', '--config.train.temperature=0.1', '--config.train.temperature_x=1', '--x']
  assert common.rename_config_flags(argv, renamed, new) == [
      'prog', '--config.train.inertia_temperature=0.1', '--config.train.temperature_x=1', '--x']
  assert common.rename_config_flags(argv, renamed, old) == argv  # An old config file.
