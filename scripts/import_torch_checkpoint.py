r"""Imports a checkpoint of the original PyTorch "Landauer LLM" as a `seed` model.

Usage (from the repository root; needs PyTorch: `pip install -e ".[torch]"`):

  python -m scripts.import_torch_checkpoint --pth=model.pth --workdir=/tmp/imported
  python -m scripts.import_torch_checkpoint --pth=model.pth --dry_run

The layouts it reads and the conversion are described in
`landauerjax.torch_import`. A `.pth` that needs more than tensors, containers,
an argparse.Namespace and paths to unpickle is refused (one line, exit 2,
nothing written) unless --trust_pickle. The written checkpoint is
inference-only: eval and generate load it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from absl import app
from absl import flags

from experiments import common
from landauerjax import models
from landauerjax import torch_import

_PTH = flags.DEFINE_string('pth', None, 'The original .pth checkpoint.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where to write the imported checkpoint.')
_DRY_RUN = flags.DEFINE_bool('dry_run', False, 'Convert and print a summary, write nothing.')
_VERIFY = flags.DEFINE_bool(
    'verify', True, 'Compare the flax logits with a NumPy forward pass of the '
    'original state dict on a short random sequence.')
_TRUST_PICKLE = flags.DEFINE_bool(
    'trust_pickle', False, 'Fully unpickle the .pth, whatever it holds. Dangerous: '
    'unpickling runs any code the file names (it can delete or send your files). Only for '
    'a file whose source you trust; without it, a file that needs more than tensors, '
    'containers, an argparse.Namespace and paths is refused.')


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not _PTH.value:
    raise app.UsageError('--pth is required.')
  if not _DRY_RUN.value and not _WORKDIR.value:
    raise app.UsageError('--workdir is required (or pass --dry_run).')
  converted = torch_import.convert_checkpoint(_PTH.value, trust_pickle=_TRUST_PICKLE.value)
  cfg, chars = converted.model_config, converted.vocab_chars
  print(f'Read {_PTH.value}: {len(converted.state_dict)} tensors; original config '
        f'{converted.original_config}.')
  print(f'seed model: V={cfg.vocab_size} E={cfg.embed_dim} H={cfg.hidden_dim} '
        f'L={cfg.num_layers} c={cfg.phase_scaling} phi_0={cfg.base_phase}; '
        f'{models.count_params(converted.params):,} parameters.')
  order = 'sorted' if list(chars) == sorted(chars) else 'original order, unsorted'
  print(f'Vocabulary ({len(chars)}, {order}): {chars!r}')
  if _VERIFY.value:
    diff = torch_import.max_logit_difference(converted.state_dict, converted.params, cfg)
    print(f'Max |flax - NumPy reference| logit difference: {diff:.3g}')
    if not diff < 1e-3:
      raise ValueError(f'Converted model disagrees with the original equations: {diff}.')
  if _DRY_RUN.value:
    print('Dry run: nothing written.')
    return
  extra = {'source': os.path.abspath(_PTH.value),
           'original_config': torch_import.json_safe(converted.original_config)}
  json.dumps(extra)  # Fails early if anything is not serialisable.
  path = torch_import.write_checkpoint(_WORKDIR.value, converted.params, cfg, chars, extra)
  print(f'Wrote {path}')


if __name__ == '__main__':
  common.run(main)
