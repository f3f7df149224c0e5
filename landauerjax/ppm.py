"""An online-compression anchor: PPMd's code length of a validation text, in nats/char.

PPMd (variant H, `pyppmd`, the compressor of 7-Zip's PPMd method) compresses
train and train + validation; the difference of the two code lengths is what
the validation split costs after the train split, in nats per validation
character. PPMd keeps adapting on the validation text as it codes it, which our
models (frozen after training) do not: an anchor for what an online
context-mixing learner reaches, not a like-for-like baseline. Byte-level, so
nats/char only for single-byte text (checked). Needs `pyppmd` (the optional
`[baselines]` extra); `scripts/ppm_anchor.py` is its command line.
"""

from __future__ import annotations

import math

from landauerjax.core import errors


def validation_nats_per_char(train: str, validation: str, order: int,
                             memory_bytes: int) -> float:
  """(|PPMd(train + validation)| - |PPMd(train)|) in nats, per validation character."""
  import pyppmd  # pylint: disable=g-import-not-at-top  # Optional: pip install pyppmd.
  train_bytes, validation_bytes = train.encode('utf-8'), validation.encode('utf-8')
  if len(train_bytes) != len(train) or len(validation_bytes) != len(validation):
    raise errors.DataError('PPMd codes bytes: this corpus has multi-byte characters, so '
                           'bytes are not characters; use an ASCII corpus.')
  coded = lambda data: len(pyppmd.compress(data, max_order=order, mem_size=memory_bytes))
  extra_bytes = coded(train_bytes + validation_bytes) - coded(train_bytes)
  return extra_bytes * 8 * math.log(2) / len(validation)
