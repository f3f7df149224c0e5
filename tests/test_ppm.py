"""landauerjax.ppm: PPMd's code length of a validation text after its train text."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip('pyppmd')
from landauerjax.core import errors  # pylint: disable=g-import-not-at-top,wrong-import-position
from landauerjax import ppm  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_a_text_seen_in_train_costs_far_less_than_fresh_random_text():
  rng = np.random.default_rng(0)
  letters = 'abcdefghijklmnopqrstuvwxyz'
  random_text = lambda n: ''.join(rng.choice(list(letters), n))
  train = random_text(20_000)
  repeated = ppm.validation_nats_per_char(train, train[:2_000], 6, 16 << 20)
  fresh = ppm.validation_nats_per_char(train, random_text(2_000), 6, 16 << 20)
  assert 0 < repeated < 0.2 * math.log(26)  # Predictable from the train text.
  assert fresh > 0.9 * math.log(26)  # Uniform letters: about ln 26 nats each, no less.


def test_multi_byte_text_is_refused():
  with pytest.raises(errors.DataError, match='multi-byte'):
    ppm.validation_nats_per_char('abc' * 10, 'é' * 5, 4, 16 << 20)
