"""landauerjax.core.sample_metrics: diversity and repetition of text samples."""

from __future__ import annotations

import numpy as np
import pytest

from landauerjax.core import sample_metrics


def _brute_longest_repeat(text):
  best = 0
  for i in range(len(text)):
    for j in range(i + 1, len(text)):
      k = 0
      while j + k < len(text) and text[i + k] == text[j + k]:
        k += 1
      best = max(best, k)
  return best


@pytest.mark.parametrize('seed', range(5))
def test_longest_repeat_matches_brute_force(seed):
  text = ''.join(np.random.default_rng(seed).choice(list('ab c'), 60))
  assert sample_metrics.longest_repeat(text) == _brute_longest_repeat(text)


def test_loops_score_low_diversity_and_long_repeats():
  loop = 'the ' * 50
  varied = 'First Citizen: Before we proceed any further, hear me speak.'
  assert sample_metrics.distinct_ngrams(loop, 4) == pytest.approx(4 / 197)
  assert sample_metrics.longest_repeat(loop) == 196  # Overlapping occurrences count.
  assert sample_metrics.distinct_ngrams(varied, 4) > 0.9
  assert sample_metrics.longest_repeat('abcab') == 2
  assert sample_metrics.longest_repeat('') == 0


def test_word_rate_and_report():
  vocab = sample_metrics.words('To be or not to be')
  assert sample_metrics.word_rate('TO be, or xq!', vocab) == pytest.approx(3 / 4)
  assert sample_metrics.word_rate('!!! 123', vocab) == 0.0
  report = sample_metrics.sample_report('to be to be', vocab)
  assert report['word_rate'] == 1.0 and report['longest_repeat'] == 5.0
  assert set(report) == {'distinct_1', 'distinct_2', 'distinct_3', 'distinct_4', 'distinct_8',
                         'longest_repeat', 'word_rate'}
  with pytest.raises(ValueError, match='n must be'):
    sample_metrics.distinct_ngrams('abc', 0)
  assert sample_metrics.distinct_ngrams('ab', 3) == 1.0


def test_summarize_gives_mean_and_spread():
  row = sample_metrics.summarize(['abab', 'abcd'], {'abcd'})
  assert row['longest_repeat'] == 1.0 and row['longest_repeat_std'] == 1.0  # 2 and 0.
  assert row['word_rate'] == 0.5 and row['distinct_4'] == 1.0
