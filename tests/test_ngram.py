"""landauerjax.ngram (interpolated Kneser–Ney) and its CLI, scripts/ngram_baseline.py."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from landauerjax import ngram as nb
from tests.conftest import REPO_ROOT, SHAKESPEARE

_TRAIN = 'the cat sat on the mat; a rat ate the hat. ' * 3 + 'then the cat ran.'


@pytest.mark.parametrize('order', [1, 2, 3, 4, 5])
@pytest.mark.parametrize('discount', [None, 0.0, 0.3, 1.0])
def test_distribution_sums_to_one(order, discount):
  vocab = set(_TRAIN) | set('xyzQ')  # Characters never seen in training.
  model = nb.kneser_ney_model(_TRAIN, order, discount=discount, vocab=vocab)
  contexts = ['', 'e', 'th', 'the', ' ca', 'cat ', 'QQQQ', 'xyz', 'at t',
              'the mat', _TRAIN[-6:]]
  for context in contexts:
    dist = nb.conditional_distribution(model, context)
    assert dist.shape == (len(model.vocab),)
    assert np.all(dist >= 0.0)
    np.testing.assert_allclose(dist.sum(), 1.0, rtol=0, atol=1e-12)
    if discount != 0.0:  # Interpolation with the uniform reaches unseen chars.
      assert np.all(dist > 0.0)


def test_higher_order_helps_on_repetitive_text():
  # A random binary string of period 40, repeated: longer contexts pin down
  # the position in the period, so each order predicts better.
  period = ''.join(np.random.default_rng(0).choice(list('ab'), size=40))
  text = period * 20
  train, val = text[:600], text[600:]
  nats = [nb.cross_entropy(nb.kneser_ney_model(train, n), val)
          for n in range(1, 7)]
  assert all(lo < hi for lo, hi in zip(nats[1:], nats[:-1])), nats
  assert nats[-1] < 0.5 * nats[0]


def test_order_one_without_discount_is_unigram_cross_entropy():
  train, val = 'aaaabbbccd' * 3, 'abacabad'
  model = nb.kneser_ney_model(train, 1, discount=0.0)
  chars, counts = np.unique(np.array(list(train)), return_counts=True)
  probs = dict(zip(chars, counts / counts.sum()))
  expected = -np.mean([np.log(probs[c]) for c in val])
  assert nb.cross_entropy(model, val) == pytest.approx(expected, abs=1e-12)
  # Scored on its own training text, it is the plain unigram entropy.
  entropy = -np.sum(counts / counts.sum() * np.log(counts / counts.sum()))
  assert nb.cross_entropy(model, train) == pytest.approx(entropy, abs=1e-12)


def test_order_two_without_discount_is_bigram_mle():
  train = 'abracadabra alakazam abr'
  model = nb.kneser_ney_model(train, 2, discount=0.0)
  val = 'abrazam'
  history = train[-1:]
  text = history + val
  expected = 0.0
  for prev, char in zip(text[:-1], text[1:]):
    followers = [train[i + 1] for i in range(len(train) - 1)
                 if train[i] == prev]
    expected -= math.log(followers.count(char) / len(followers))
  assert nb.cross_entropy(model, val) == pytest.approx(
      expected / len(val), abs=1e-12)


def test_hand_computed_kneser_ney():
  # train 'aaaab', V = {a, b, c}, D = 0.5. Bigrams: aa x3, ab x1.
  # Unigram continuation counts: a <- {a}: 1, b <- {a}: 1; T = 2, U = 2.
  # P1(a) = P1(b) = (1 - .5)/2 + .5*2/2 * 1/3 = 5/12, P1(c) = 1/6.
  # Context 'a': T = 4, U = 2, backoff weight .5*2/4 = 1/4.
  model = nb.kneser_ney_model('aaaab', 2, discount=0.5, vocab='abc')
  np.testing.assert_allclose(nb.conditional_distribution(model, ''),
                             [5 / 12, 5 / 12, 1 / 6], atol=1e-15)
  np.testing.assert_allclose(
      nb.conditional_distribution(model, 'a'),
      [2.5 / 4 + 5 / 48, 0.5 / 4 + 5 / 48, 1 / 24], atol=1e-15)
  # 'b' only ends the training text, 'c' is unseen: back off to P1.
  for context in ('b', 'c'):
    np.testing.assert_allclose(nb.conditional_distribution(model, context),
                               [5 / 12, 5 / 12, 1 / 6], atol=1e-15)


def test_counts_and_discount_estimate():
  assert nb.count_ngrams('abab', 2) == {'ab': 2, 'ba': 1}
  assert nb.continuation_counts({'ab', 'bb', 'cb', 'ba'}) == {'b': 3, 'a': 1}
  # n1 = 2, n2 = 1: D = 2 / (2 + 2).
  assert nb.estimate_discount({'a': 1, 'b': 1, 'c': 2, 'd': 5}) == 0.5
  assert nb.estimate_discount({'a': 3}) == nb.MIN_ESTIMATED_DISCOUNT
  assert nb.estimate_discount({'a': 1}) == 1.0
  model = nb.kneser_ney_model('abcab', 3)
  assert model.history == 'ab'
  assert model.counts[2] == {'abc': 1, 'bca': 1, 'cab': 1}
  assert model.counts[1] == {'bc': 1, 'ca': 1, 'ab': 1}  # Continuation.


def test_boundary_uses_end_of_training_text():
  model = nb.kneser_ney_model('abcabcabcab', 3)
  val = 'cab'
  assert model.history == 'ab'
  assert nb.cross_entropy(model, val) == pytest.approx(
      nb.cross_entropy(model, val, history='xyzab'))
  assert nb.cross_entropy(model, val) != pytest.approx(
      nb.cross_entropy(model, val, history=''))


def test_unknown_validation_character_raises():
  model = nb.kneser_ney_model('abc', 2)
  with pytest.raises(ValueError, match='outside the vocabulary'):
    nb.cross_entropy(model, 'abd')


@pytest.mark.skipif(not SHAKESPEARE.is_file(),
                    reason='../shared/data/tiny_shakespeare.txt is absent')
def test_tiny_shakespeare_slice_orders_1_to_3():
  text = SHAKESPEARE.read_text(encoding='utf-8')[:60_000]
  cut = int(len(text) * 0.9)
  rows = nb.evaluate_orders(text[:cut], text[cut:], [1, 2, 3])
  nats = [r['nats_per_char'] for r in rows]
  assert all(math.isfinite(n) for n in nats)
  assert nats[0] > nats[1] > nats[2]
  assert 3.0 < nats[0] < 3.7  # Unigram character entropy of English-ish text.
  assert 1.8 < nats[2] < 2.8
  for r in rows:
    assert r['bits_per_char'] == pytest.approx(r['nats_per_char'] / math.log(2))
  assert [r['num_contexts'] for r in rows][0] == 1


@pytest.mark.slow
def test_script_writes_the_json_that_the_results_table_reads(tmp_path, small_corpus_path):
  out = tmp_path / 'ngram.json'
  result = subprocess.run(
      [sys.executable, '-m', 'scripts.ngram_baseline', '--dataset=local_text',
       f'--local_path={small_corpus_path}', f'--data_dir={tmp_path / "tfds"}',
       '--orders=1,3', f'--output={out}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  written = json.loads(out.read_text())
  assert [r['order'] for r in written['results']] == [1, 3]
  assert written['results'][1]['nats_per_char'] < written['results'][0]['nats_per_char']
  assert '| 3 |' in result.stdout
