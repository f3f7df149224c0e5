"""landauerjax.core.guards: what stops a run, and the message naming what is kept."""

import math

import jax.numpy as jnp
import pytest

from landauerjax.core import checkpoints
from landauerjax.core import errors
from landauerjax.core import guards


def test_stops_name_the_newest_verified_checkpoint(tmp_path):
  store = checkpoints.CheckpointStore(str(tmp_path))
  guard = guards.Guard(store, vocab_size=65, divergence_factor=10.0, advice='Do X.')
  assert 'no checkpoint had been saved yet' in str(guard.stop(3, 'why'))
  store.save(2, {'w': jnp.ones(3)}, {})
  store.save(4, {'w': jnp.ones(3)}, {})
  open(store.step_dir(4) + '/meta/metadata', 'a').write(' ')  # Step 4 no longer verifies.
  message = str(guard.stop(5, 'why'))
  assert message.startswith('Training stopped at step 5: why; the last good checkpoint, step 2')
  assert message.endswith('Do X.')


def test_loss_checks(tmp_path):
  guard = guards.Guard(checkpoints.CheckpointStore(str(tmp_path)), vocab_size=65,
                       divergence_factor=10.0)
  assert guard.max_loss == pytest.approx(10 * math.log(65))
  guard.check_loss(1, 'loss', 41.0)  # Below 10 x ln 65 = 41.7.
  with pytest.raises(errors.TrainingStopped, match='diverged'):
    guard.check_loss(1, 'loss', 42.0)
  with pytest.raises(errors.TrainingStopped, match='non-finite loss'):
    guard.check_loss(1, 'loss', math.nan)
  with pytest.raises(errors.TrainingStopped, match='non-finite metrics'):
    guard.check_finite(1, 'metrics', {'a': 1.0, 'b': math.inf})
  with pytest.raises(errors.TrainingStopped, match='made w non-finite'):
    guard.check_state(1, {'w': jnp.array([0.0, jnp.nan])})
  off = guards.Guard(checkpoints.CheckpointStore(str(tmp_path)), 65, divergence_factor=0)
  off.check_loss(1, 'loss', 1e30)  # Off: only non-finite values stop.
  with pytest.raises(errors.TrainingStopped):
    off.check_loss(1, 'loss', math.inf)
