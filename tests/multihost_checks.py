"""One process of a two-process run on this machine: run twice by tests/test_core_distributed.py.

  XLA_FLAGS=--xla_force_host_platform_device_count=4 \
    python tests/multihost_checks.py ROOT PORT PROCESS_ID

Both processes join over 127.0.0.1:PORT (jax.distributed, gloo collectives),
make one mesh of their 2 x 4 CPU devices and train the tiny configs of
tests/multidevice_checks.py in ROOT/<model>, then resume them for two more
steps. Process 0 prints {model: [train_loss per step]} as one JSON line.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / 'tests'))

from landauerjax.core import distributed  # pylint: disable=g-import-not-at-top,wrong-import-position


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
    train(make_config(corpus, data_dir, num_steps=2), workdir)
    train(make_config(corpus, data_dir), workdir)  # Resumed by both processes.
    results[name] = checks.losses(workdir) if distributed.is_primary() else None
  distributed.barrier('done')
  if distributed.is_primary():
    print(json.dumps(results))


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
