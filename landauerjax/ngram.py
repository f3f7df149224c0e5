r"""Interpolated Kneser–Ney character n-gram model, the baseline of the character LMs.

`scripts/ngram_baseline.py` fits one model per order on the canonical split and
writes docs/ngram_baseline.json; this module is the model itself (pure Python
and NumPy, no JAX). `evaluate_orders` fits and scores several orders.

The model (Chen & Goodman 1999, "interpolated Kneser–Ney"), for an order-N
model and a context h of N-1 characters, with levels k = 1..N:

  P_k(w | h_k) = max(c_k(h_k w) - D_k, 0) / T_k(h_k)
                 + D_k * U_k(h_k) / T_k(h_k) * P_{k-1}(w | h_{k-1})
  P_0(w)       = 1 / V                      (uniform over the vocabulary)

where h_k is the last k-1 characters of h, and
* c_N is the raw count of the N-gram in the training text (highest level);
* c_k for k < N is the continuation count N1+(. h_k w): the number of distinct
  characters that precede the k-gram `h_k w` in the training text;
* T_k(h_k) = sum_w c_k(h_k w) and U_k(h_k) = #{w : c_k(h_k w) > 0} (the
  N1+(h_k .) of the formula), both taken from the same table c_k so that every
  level is exactly normalised;
* when T_k(h_k) = 0 (context never seen at level k) the level is skipped:
  P_k(. | h_k) = P_{k-1}(. | h_{k-1}).
The unigram level (k = 1) interpolates with the uniform distribution over the
vocabulary, so a character never seen in training still gets probability
D_1 * U_1 / T_1 / V > 0 (as long as D_1 > 0).

Discounts. With `discount` given, that single D (0 <= D <= 1) is used at every
level. Otherwise each level gets one discount estimated from the
count-of-counts of its own table c_k (raw counts at the top level,
continuation counts below), D_k = n1 / (n1 + 2 n2) (Ney, Essen & Kneser 1994),
where n_r is the number of k-grams with c_k = r. This is plain interpolated
KN with one discount per level, not modified KN (three discounts D1, D2, D3+
per level). The estimate is clipped to [MIN_ESTIMATED_DISCOUNT, 1]: the upper
bound keeps max(c - D, 0) removing exactly D per seen type; the floor only
matters when a level has no singletons (n1 = 0), where the raw estimate 0
would give unseen characters zero probability.

Boundary. Every validation character is scored given the N-1 characters that
precede it in the corpus; for the first validation characters those lie at the
end of the training text (the model stores the training tail as `history`).
So the cross-entropy is the average of -log P(x_i | x_{i-N+1} .. x_{i-1}) over
all validation positions i, exactly as a model reading the whole corpus would
score them. Training n-grams are all the substrings of the training text; the
first characters of the training text have no left neighbour and so add no
continuation count.

Vocabulary: `evaluate_orders` predicts over the characters of train +
validation (65 for Tiny Shakespeare).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

MIN_ESTIMATED_DISCOUNT = 0.01


@dataclasses.dataclass(frozen=True)
class KneserNeyModel:
  """A fitted interpolated Kneser–Ney character model.

  Attributes:
    order: N, the n-gram order (the context is N-1 characters).
    vocab: the vocabulary as a sorted string of V distinct characters.
    discounts: length N; discounts[k-1] is D_k of level k (unitless, [0, 1]).
    counts: length N; counts[k-1] maps a k-character string `h w` to c_k(h w)
      (raw count at k = N, continuation count N1+(. h w) for k < N).
    context_totals: length N; context_totals[k-1] maps a (k-1)-character
      context h to T_k(h) = sum_w c_k(h w) (> 0 for every stored key).
    context_types: length N; context_types[k-1] maps h to U_k(h), the number
      of distinct w with c_k(h w) > 0.
    history: the last N-1 (or fewer) characters of the training text, the
      context of the first character scored by `cross_entropy`.
  """
  order: int
  vocab: str
  discounts: tuple[float, ...]
  counts: tuple[dict[str, int], ...]
  context_totals: tuple[dict[str, int], ...]
  context_types: tuple[dict[str, int], ...]
  history: str

  @property
  def num_contexts(self) -> int:
    """Distinct (N-1)-character training contexts (that have a successor)."""
    return len(self.context_totals[-1])


def count_ngrams(text: str, order: int) -> collections.Counter[str]:
  """Counts every length-`order` substring of `text`.

  Args:
    text: the training text, a string of length L.
    order: n >= 1.

  Returns:
    Counter mapping each n-character string to its number of (overlapping)
    occurrences; the counts sum to max(L - n + 1, 0).
  """
  if order < 1:
    raise ValueError(f'order must be >= 1, got {order}.')
  return collections.Counter(
      text[i:i + order] for i in range(len(text) - order + 1))


def continuation_counts(longer_ngrams: Iterable[str]
                        ) -> collections.Counter[str]:
  """Continuation counts N1+(. g) from the distinct (k+1)-grams.

  Args:
    longer_ngrams: the distinct (k+1)-character strings seen in training
      (iterating a Counter gives its keys).

  Returns:
    Counter mapping each k-character string g to the number of distinct
    characters x such that `x g` is among `longer_ngrams`.
  """
  return collections.Counter(g[1:] for g in longer_ngrams)


def estimate_discount(counts: dict[str, int]) -> float:
  """D = n1 / (n1 + 2 n2) from a count table, clipped to [0.01, 1].

  Args:
    counts: map from n-gram to (raw or continuation) count.

  Returns:
    The absolute discount D (unitless). n_r is the number of n-grams with
    count exactly r; see the module docstring for the clipping.
  """
  n1 = sum(1 for c in counts.values() if c == 1)
  n2 = sum(1 for c in counts.values() if c == 2)
  raw = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.0
  return min(max(raw, MIN_ESTIMATED_DISCOUNT), 1.0)


def _context_stats(counts: dict[str, int]
                   ) -> tuple[dict[str, int], dict[str, int]]:
  """(T_k, U_k) of one level's table: per context h, sum_w c(h w) and #{w: c(h w) > 0}."""
  totals: collections.Counter[str] = collections.Counter()
  types: collections.Counter[str] = collections.Counter()
  for gram, c in counts.items():
    if c > 0:
      totals[gram[:-1]] += c
      types[gram[:-1]] += 1
  return dict(totals), dict(types)


def kneser_ney_model(train_text: str, order: int,
                     discount: float | None = None,
                     vocab: str | Sequence[str] | None = None
                     ) -> KneserNeyModel:
  """Fits an interpolated Kneser–Ney model of order N on `train_text`.

  Args:
    train_text: training string of length L >= 1.
    order: N >= 1.
    discount: one D in [0, 1] for every level, or None to estimate D_k per
      level from the count-of-counts (see the module docstring).
    vocab: the characters the model predicts over (V of them); defaults to the
      characters of `train_text`. Must contain every training character.

  Returns:
    The fitted `KneserNeyModel`.
  """
  if order < 1:
    raise ValueError(f'order must be >= 1, got {order}.')
  if not train_text:
    raise ValueError('train_text is empty.')
  if discount is not None and not 0.0 <= discount <= 1.0:
    raise ValueError(f'discount must lie in [0, 1], got {discount}.')
  vocab_str = ''.join(sorted(set(train_text if vocab is None else vocab)))
  missing = set(train_text) - set(vocab_str)
  if missing:
    raise ValueError(f'vocab lacks training characters {sorted(missing)!r}.')

  # Raw counts at the top level; distinct (k+1)-grams give level k's
  # continuation counts.
  top = dict(count_ngrams(train_text, order))
  counts: list[dict[str, int]] = [top]
  longer: Iterable[str] = top
  for k in range(order - 1, 0, -1):
    counts.insert(0, dict(continuation_counts(longer)))
    if k > 1:
      longer = {train_text[i:i + k] for i in range(len(train_text) - k + 1)}
  totals, types = zip(*(_context_stats(c) for c in counts))
  if discount is None:
    discounts = tuple(estimate_discount(c) for c in counts)
  else:
    discounts = (float(discount),) * order
  return KneserNeyModel(
      order=order, vocab=vocab_str, discounts=discounts,
      counts=tuple(counts), context_totals=tuple(totals),
      context_types=tuple(types),
      history=train_text[max(len(train_text) - (order - 1), 0):])


def probability(model: KneserNeyModel, context: str, char: str) -> float:
  """P(char | context) under the model (a probability in [0, 1]).

  Args:
    model: a fitted model of order N.
    context: the preceding characters (any length; only the last N-1 are
      used; a shorter context starts at a lower level).
    char: one character of `model.vocab`.
  """
  p = 1.0 / len(model.vocab)
  levels = min(model.order, len(context) + 1)
  n = len(context)
  for k in range(1, levels + 1):
    h = context[n - k + 1:] if k > 1 else ''
    total = model.context_totals[k - 1].get(h, 0)
    if total == 0:
      break  # A longer context containing h is unseen as well.
    d = model.discounts[k - 1]
    c = model.counts[k - 1].get(h + char, 0)
    p = (max(c - d, 0.0) + d * model.context_types[k - 1][h] * p) / total
  return p


def conditional_distribution(model: KneserNeyModel,
                             context: str) -> np.ndarray:
  """P(. | context) over `model.vocab`: float64 array of shape [V], sums to 1."""
  return np.array([probability(model, context, w) for w in model.vocab])


def cross_entropy(model: KneserNeyModel, val_text: str,
                  history: str | None = None) -> float:
  """Average -log P(x_i | preceding N-1 chars) over `val_text`, in nats/char.

  Args:
    model: a fitted model of order N.
    val_text: the evaluation string (length M >= 1), every character in
      `model.vocab`.
    history: the text just before `val_text`; None uses `model.history`, the
      end of the training text (the canonical split is contiguous).

  Returns:
    Cross-entropy in nats per character, averaged over all M characters
    (inf if some character gets probability 0, possible only with D = 0).
  """
  if not val_text:
    raise ValueError('val_text is empty.')
  unknown = set(val_text) - set(model.vocab)
  if unknown:
    raise ValueError(f'val_text has characters outside the vocabulary: '
                     f'{sorted(unknown)!r}.')
  history = model.history if history is None else history
  ctx = model.order - 1
  text = history[max(len(history) - ctx, 0):] + val_text
  offset = len(text) - len(val_text)
  total = 0.0
  for i in range(offset, len(text)):
    p = probability(model, text[max(i - ctx, 0):i], text[i])
    if p <= 0.0:
      return math.inf
    total -= math.log(p)
  return total / len(val_text)


def evaluate_orders(train_text: str, val_text: str, orders: Sequence[int],
                    discount: float | None = None) -> list[dict[str, object]]:
  """Fits and scores one model per order on a contiguous train/val split.

  Returns:
    One dict per order: order, nats_per_char, bits_per_char, num_contexts,
    discounts (per level, 1..N), seconds (fit + evaluation wall time).
  """
  vocab = ''.join(sorted(set(train_text) | set(val_text)))
  rows = []
  for order in orders:
    start = time.perf_counter()
    model = kneser_ney_model(train_text, order, discount=discount, vocab=vocab)
    nats = cross_entropy(model, val_text)
    rows.append({
        'order': order,
        'nats_per_char': nats,
        'bits_per_char': nats / math.log(2),
        'num_contexts': model.num_contexts,
        'discounts': list(model.discounts),
        'seconds': time.perf_counter() - start,
    })
  return rows


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
  """`evaluate_orders` rows as a Markdown table."""
  lines = ['| order | val nats/char | val bits/char | contexts | seconds |',
           '|---:|---:|---:|---:|---:|']
  for r in rows:
    lines.append(f"| {r['order']} | {r['nats_per_char']:.4f} | {r['bits_per_char']:.4f} | "
                 f"{r['num_contexts']:,} | {r['seconds']:.1f} |")
  return '\n'.join(lines)
