"""landauerjax.core.guards: what stops a run, and the message naming what is kept."""

import math

import jax
import jax.numpy as jnp
import numpy as np
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


def test_watch_keeps_the_first_bad_step_and_check_watch_names_it(tmp_path):
  guard = guards.Guard(checkpoints.CheckpointStore(str(tmp_path)), vocab_size=65,
                       divergence_factor=10.0)
  bound = guard.watch_bound()
  # The float32 bound: a float32 loss exceeds it iff it exceeds max_loss (a float64).
  assert float(bound) <= guard.max_loss < float(np.nextafter(bound, np.float32(np.inf)))
  metrics = lambda loss, aux=0.0: {'loss': jnp.float32(loss), 'aux': jnp.float32(aux)}
  watched = guards.new_watch(metrics(0.0))
  for step, m in enumerate([metrics(4.0), metrics(4.0, math.inf), metrics(50.0),
                            metrics(math.nan)], start=1):
    watched = guards.watch(watched, np.int32(step), m, bound, loss_key='loss')
    if step == 1:
      guard.check_watch(jax.device_get(watched), 'loss')  # Nothing bad yet.
  host = jax.device_get(watched)
  assert int(host['step']) == 2 and float(host['metrics']['aux']) == math.inf
  with pytest.raises(errors.TrainingStopped, match=r'at step 2: non-finite metrics'):
    guard.check_watch(host, 'loss')
  diverged = guards.watch(guards.new_watch(metrics(0.0)), np.int32(7), metrics(42.0), bound,
                          loss_key='loss')
  with pytest.raises(errors.TrainingStopped, match='at step 7: the loss diverged'):
    guard.check_watch(jax.device_get(diverged), 'loss')
  off = guards.Guard(checkpoints.CheckpointStore(str(tmp_path)), 65, divergence_factor=0)
  quiet = guards.watch(guards.new_watch(metrics(0.0)), np.int32(1), metrics(1e30),
                       off.watch_bound(), loss_key='loss')
  assert int(quiet['step']) == 0
