"""landauerjax.results: the summary over seeds, its tables, and runs kept between calls."""

from __future__ import annotations

import json
import math

import pytest

from landauerjax import results
from landauerjax.core import errors


def _run(config, seed, ce):
  return {'config': config, 'seed': seed, 'variant': 'original', 'params': 10, 'val_ce': ce,
          'val_ce_reset64': ce + 0.1, 'one_batch_loss': ce + 0.2, 'wall_s': 5.0,
          'train_chars_per_sec': 100.0, 'curve': [(1, ce)], 'train_curve': [(1, ce)]}


def test_summary_and_table_of_seeds():
  runs = [_run('a', 0, 1.5), _run('a', 1, 1.7), _run('b', 0, 2.0)]
  a, b = results.summarize(runs, ['a', 'b'])
  assert (a['seeds'], a['val_ce_mean'], a['val_ce_min'], a['val_ce_max']) == (2, 1.6, 1.5, 1.7)
  assert a['val_ce_std'] == pytest.approx(math.sqrt(0.02)) and b['val_ce_std'] == 0.0
  ngram = [{'order': 3, 'num_contexts': 1380, 'nats_per_char': 2.0449, 'bits_per_char': 2.95}]
  table = results.markdown([a, b], ngram, 'cmd').splitlines()
  assert table[1] == 'Produced by `cmd`. Wall time per run includes compilation and the ' \
      "evaluations, on this 2-core CPU; see the notes below for the machine's load."
  assert table[5].startswith('| original | `a` | 10 | 1.6000 ± 0.1414 (n=2) | 1.5000–1.7000 |')
  assert table[-1].startswith('| 3-gram KN (1,380 contexts) |')


def test_a_finished_run_is_kept_and_one_of_another_length_refused(tmp_path):
  path = str(tmp_path / 'p' / 'seed0' / 'result.json')
  assert results.cached_run(path, 3, None) is None  # Not run, not trained.
  run = results.cached_run(path, 3, lambda: {'num_steps': 3, 'val_ce': 1.9})
  assert run == json.load(open(path)) == {'num_steps': 3, 'val_ce': 1.9}
  assert results.cached_run(path, 3, lambda: pytest.fail('trained again')) == run
  with pytest.raises(errors.ConfigError, match='trained 3 steps, not --num_steps=5'):
    results.cached_run(path, 5, None)
