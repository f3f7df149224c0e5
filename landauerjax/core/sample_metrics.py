"""Model-free measures of a text sample's quality: diversity and repetition.

Used to compare samples of different models and samplers (scripts/sample_quality.py):
  * distinct-n: the fraction of a sample's n-grams (of characters) that are
    distinct; a sample stuck in a loop ("the the the") scores low;
  * longest repeat: the longest substring that occurs twice in the sample
    (overlaps allowed); loops make it long, natural text keeps it short;
  * word rate: the fraction of the sample's words (maximal runs of letters)
    that occur in a reference vocabulary, e.g. the training text's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

_WORD = re.compile(r"[A-Za-z]+")


def distinct_ngrams(text: str, n: int) -> float:
  """Distinct n-grams / all n-grams of `text` (1.0 for a text shorter than n)."""
  if n < 1:
    raise ValueError(f'n must be >= 1, got {n}.')
  total = len(text) - n + 1
  if total <= 0:
    return 1.0
  return len({text[i:i + n] for i in range(total)}) / total


def longest_repeat(text: str) -> int:
  """Length of the longest substring that occurs at least twice in `text`.

  Suffix array by sorting (O(n^2 log n) worst case; fine for samples of a few
  thousand characters), then the longest common prefix of neighbours.
  """
  suffixes = sorted(range(len(text)), key=lambda i: text[i:])
  best = 0
  for a, b in zip(suffixes, suffixes[1:]):
    k = 0
    while a + k < len(text) and b + k < len(text) and text[a + k] == text[b + k]:
      k += 1
    best = max(best, k)
  return best


def words(text: str) -> list[str]:
  """Maximal runs of ASCII letters, lower-cased."""
  return [w.lower() for w in _WORD.findall(text)]


def word_rate(text: str, vocabulary: Iterable[str]) -> float:
  """Fraction of `text`'s words found in `vocabulary` (lower-cased); 0 without words."""
  found = words(text)
  if not found:
    return 0.0
  known = {w.lower() for w in vocabulary}
  return sum(w in known for w in found) / len(found)


def sample_report(text: str, vocabulary: Iterable[str] = ()) -> dict[str, float]:
  """{'distinct_1'..'distinct_4', 'distinct_8', 'longest_repeat', 'word_rate'} of a sample."""
  report = {f'distinct_{n}': distinct_ngrams(text, n) for n in (1, 2, 3, 4)}
  report['distinct_8'] = distinct_ngrams(text, 8)
  report['longest_repeat'] = float(longest_repeat(text))
  report['word_rate'] = word_rate(text, vocabulary)
  return report


SUMMARY_KEYS = ('distinct_4', 'distinct_8', 'longest_repeat', 'word_rate')


def summarize(samples: Sequence[str], vocabulary: Iterable[str] = (),
              keys: Sequence[str] = SUMMARY_KEYS) -> dict[str, float]:
  """Mean and standard deviation over samples of each of `keys` of `sample_report`:
  {key: mean, key + '_std': sd (NumPy's, ddof 0)}."""
  reports = [sample_report(s, vocabulary) for s in samples]
  row = {}
  for key in keys:
    values = np.array([r[key] for r in reports])
    row[key], row[key + '_std'] = float(values.mean()), float(values.std())
  return row
