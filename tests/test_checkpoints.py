"""Tests of landauerjax.checkpoints: loading for inference, falling back from damage."""

from __future__ import annotations

import os
import shutil

import pytest

from landauerjax import checkpoints
from landauerjax.core import errors


def flip_bytes_in_data(step_dir):
  """Three flipped bytes in the largest array file of a step."""
  files = [os.path.join(root, name) for root, _, names in os.walk(os.path.join(step_dir, 'state'))
           for name in names]
  path = max(files, key=os.path.getsize)
  data = bytearray(open(path, 'rb').read())
  for i in (0, 1, 2):
    data[len(data) // 2 + 5 * i] ^= 0xFF
  with open(path, 'wb') as f:
    f.write(data)


def _truncate_data(step_dir):
  state = os.path.join(step_dir, 'state')
  for root, _, files in os.walk(state):
    for name in files:
      path = os.path.join(root, name)
      if os.sep + 'd' + os.sep in path:  # Array data; metadata stays readable.
        with open(path, 'r+b') as f:
          f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize('damage', [
    _truncate_data,
    flip_bytes_in_data,
    lambda step_dir: shutil.rmtree(os.path.join(step_dir, 'state')),
    lambda step_dir: shutil.rmtree(os.path.join(step_dir, 'meta')),
    lambda step_dir: [shutil.rmtree(os.path.join(step_dir, d)) for d in os.listdir(step_dir)
                      if os.path.isdir(os.path.join(step_dir, d))],
], ids=['truncated_arrays', 'flipped_bytes', 'no_state', 'no_meta', 'emptied'])
def test_load_for_inference_falls_back_from_a_damaged_checkpoint(landauer_run, tmp_path,
                                                                 damage):
  workdir = str(tmp_path / 'damaged')
  shutil.copytree(landauer_run[0], workdir)
  step_dir = os.path.join(workdir, 'checkpoints', '6')
  damage(step_dir)
  assert checkpoints.load_for_inference(workdir).step == 3  # The older one is fine.
  with pytest.raises(errors.CheckpointError, match='checkpoint step 6 is unusable') as info:
    checkpoints.load_for_inference(workdir, step=6)
  assert step_dir in str(info.value)


def test_load_for_inference_without_checkpoints(tmp_path):
  os.makedirs(tmp_path / 'checkpoints')
  with pytest.raises(errors.CheckpointError, match='No checkpoint in'):
    checkpoints.load_for_inference(str(tmp_path))
