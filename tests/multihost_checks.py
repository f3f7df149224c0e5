"""One process of a two-process run on this machine: run twice by tests/test_core_distributed.py.

  XLA_FLAGS=--xla_force_host_platform_device_count=4 \
    python tests/multihost_checks.py ROOT PORT PROCESS_ID

Both processes join over 127.0.0.1:PORT (jax.distributed, gloo collectives),
make one mesh of their 2 x 4 CPU devices and train the tiny configs of
tests/multidevice_checks.py in ROOT/<model>. Process 1 sends itself SIGTERM
while the loop reads step 1's metrics back: both processes must stop after
step 2 (core.preemption), which each records; then both resume to step 4.
Process 0 prints {model: [train_loss per step], model + '_stops': [[step,
reason] per process]} as one JSON line.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / 'tests'))

from landauerjax.core import distributed  # pylint: disable=g-import-not-at-top,wrong-import-position
from landauerjax.core import loop as core_loop  # pylint: disable=g-import-not-at-top,wrong-import-position
from landauerjax.core import preemption  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(root: str, port: int, process_id: int) -> None:
  distributed.initialize(f'127.0.0.1:{port}', 2, process_id)
  import jax  # pylint: disable=g-import-not-at-top
  import multidevice_checks as checks  # pylint: disable=g-import-not-at-top
  assert jax.process_count() == 2 and jax.device_count() == 8, jax.devices()
  corpus = os.path.join(root, 'corpus.txt')  # Written by the test.
  data_dir = os.path.join(root, 'tfds')
  results = {}
  for name, make_config, train in (
      ('landauer', checks.landauer_config, checks.landauer_train.train_and_evaluate),
      ('field', checks.field_config, checks.field_train.train_and_evaluate)):
    workdir = os.path.join(root, name)
    read_backs = []
    to_host = core_loop._to_host  # pylint: disable=protected-access

    def signalled_to_host(tree, read_backs=read_backs, to_host=to_host):
      read_backs.append(1)
      if process_id == 1 and len(read_backs) == 1:
        os.kill(os.getpid(), signal.SIGTERM)
      return to_host(tree)
    core_loop._to_host = signalled_to_host  # pylint: disable=protected-access
    try:
      train(make_config(corpus, data_dir), workdir)
      stop = None
    except preemption.Preempted as e:
      stop = [e.step, e.reason]
    finally:
      core_loop._to_host = to_host  # pylint: disable=protected-access
    stops = distributed.allgather_json(stop)
    train(make_config(corpus, data_dir), workdir)  # Resumed by both processes.
    results[name] = checks.losses(workdir) if distributed.is_primary() else None
    results[name + '_stops'] = stops
  distributed.barrier('done')
  if distributed.is_primary():
    print(json.dumps(results))


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
