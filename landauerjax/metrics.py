"""WORKDIR/metrics.jsonl: one JSON object per line, shared by both models' training loops."""

from __future__ import annotations

import json
import os
from typing import Any


class MetricsWriter:
  """Appends one JSON object per line to WORKDIR/metrics.jsonl."""

  def __init__(self, workdir: str, resume_step: int):
    self.path = os.path.join(workdir, 'metrics.jsonl')
    if os.path.exists(self.path):  # Drop lines a resumed run will write again.
      with open(self.path) as f:
        kept = [l for l in f if l.strip() and json.loads(l)['step'] <= resume_step]
      with open(self.path, 'w') as f:
        f.writelines(kept)

  def write(self, record: dict[str, Any]) -> None:
    with open(self.path, 'a') as f:
      f.write(json.dumps(record) + '\n')
