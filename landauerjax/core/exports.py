"""Plain exports: parameters as one safetensors file beside a JSON of config and vocabulary.

An export directory holds two files, readable without this library:

* `model.safetensors`: every parameter, keyed by its path in the parameter
  dict joined with '/' (the Landauer LM's `layer_0/input_proj/kernel`, the
  field LM's `crystal`), with the dtype and shape it was trained with
  (`safetensors.numpy.load_file` reads it).
* `config.json`: {'format': 1, 'family': 'landauer' | 'field', 'model': the
  model config, 'vocab': the tokenizer as JSON (`core.tokenizers`), 'step',
  'source' (the workdir it came from), 'safetensors_sha256', and what the
  model adds (the Landauer LM its experiment 'config', the field LM its
  'train' settings)}.

`write` refuses an output directory that exists and is not empty, and a
parameter that is not finite; it writes into a temporary directory beside the
output and renames it into place, so a failure leaves nothing half-written.
`read` verifies what it returns: the file's sha256, the keys, shapes and
dtypes the model config implies, and that every float is finite; anything
else is a one-line `errors.CheckpointError`. The models' `checkpoints`
modules wrap both (`export`, `load_export`). safetensors is imported only
here, inside the functions that need it. Imports no model.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from landauerjax.core import errors
from landauerjax.core import text_files

FORMAT = 1
WEIGHTS = 'model.safetensors'
CONFIG = 'config.json'
# What safetensors' numpy API stores, from its floor (0.4.3) on.
# Who reads an export of each family (named in errors only: the core imports no model).
LOADERS = {'landauer': 'landauerjax.checkpoints.load_export',
           'field': 'fieldjax.checkpoints.load_export'}
_DTYPES = ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8',
           'uint16', 'uint32', 'uint64', 'bool')


def flatten(params: Mapping[str, Any]) -> dict[str, Any]:
  """{'a': {'b': x}} -> {'a/b': x}: the safetensors keys of a nested parameter dict."""
  flat = {}
  for name, value in params.items():
    if not isinstance(name, str) or not name or '/' in name:
      raise ValueError(f'Parameter name {name!r} cannot be a safetensors key part.')
    if isinstance(value, Mapping):
      flat.update({f'{name}/{key}': leaf for key, leaf in flatten(value).items()})
    else:
      flat[name] = value
  return flat


def _unflatten_like(flat: Mapping[str, Any], like: Mapping[str, Any], prefix: str = ''
                    ) -> dict[str, Any]:
  """The nested dict shaped as `like` whose leaves are `flat[path]`."""
  return {name: (_unflatten_like(flat, value, f'{prefix}{name}/')
                 if isinstance(value, Mapping) else flat[prefix + name])
          for name, value in like.items()}


def _nonfinite(flat: Mapping[str, np.ndarray]) -> list[str]:
  return [key for key, array in sorted(flat.items())
          if np.issubdtype(array.dtype, np.inexact) and not np.isfinite(array).all()]


def check_output(directory: str) -> str:
  """The absolute output path; ConfigError when it exists and is a file or a non-empty
  directory (an export never overwrites or mixes with anything)."""
  path = os.path.abspath(directory)
  if os.path.exists(path) and not os.path.isdir(path):
    raise errors.ConfigError(f'{path} exists and is not a directory: pick another output '
                             'directory, or remove it.')
  if os.path.isdir(path) and os.listdir(path):
    raise errors.ConfigError(f'{path} already exists and is not empty: pick another output '
                             'directory, or remove it.')
  return path


def write(directory: str, params: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
  """Writes DIRECTORY/model.safetensors and DIRECTORY/config.json; returns DIRECTORY.

  `params`: a nested dict of arrays (jax or numpy). `meta`: JSON, at least
  'family', 'model' and 'vocab' (see the module docstring); 'format' and
  'safetensors_sha256' are added here. Nothing is written when a check fails.

  Raises:
    errors.ConfigError: DIRECTORY exists and is a file or not empty.
    errors.CheckpointError: a parameter is not finite, or of a dtype safetensors'
      numpy API does not store.
  """
  from safetensors import numpy as st_numpy  # pylint: disable=g-import-not-at-top
  path = check_output(directory)
  missing = [k for k in ('family', 'model', 'vocab') if k not in meta]
  if missing:
    raise ValueError(f'An export needs {missing} in its meta.')
  flat = {key: np.ascontiguousarray(np.asarray(value)) for key, value in flatten(params).items()}
  unstorable = [f'{k} ({a.dtype})' for k, a in sorted(flat.items()) if a.dtype.name not in _DTYPES]
  if unstorable:
    raise errors.CheckpointError(f'Cannot export {", ".join(unstorable[:3])}: safetensors '
                                 f'stores only {", ".join(_DTYPES)}.')
  bad = _nonfinite(flat)
  if bad:
    raise errors.CheckpointError(f'Cannot export non-finite parameters ({", ".join(bad[:3])}).')
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  partial = os.path.join(parent, f'.{os.path.basename(path)}.partial-{uuid.uuid4().hex[:12]}')
  os.mkdir(partial)
  try:
    weights = os.path.join(partial, WEIGHTS)
    st_numpy.save_file(flat, weights)  # No header metadata: its order is not stable.
    record = {'format': FORMAT, **meta, 'safetensors_sha256': text_files.file_sha256(weights)}
    with open(os.path.join(partial, CONFIG), 'w') as f:
      json.dump(record, f, indent=1)
      f.write('\n')
    # safetensors creates its file private (0600): give it config.json's mode (the umask's).
    shutil.copymode(os.path.join(partial, CONFIG), weights)
    for name in (WEIGHTS, CONFIG):
      with open(os.path.join(partial, name), 'rb') as f:
        os.fsync(f.fileno())
    try:  # Replaces an empty directory; fails, changing nothing, if one with files appeared.
      os.rename(partial, path)
    except OSError:
      check_output(path)  # Says so in one line when that is why.
      raise
  except BaseException:
    shutil.rmtree(partial, ignore_errors=True)
    raise
  return path


def read(directory: str, family: str, expected: Callable[[dict[str, Any]], Mapping[str, Any]]
         ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  """(params, meta) of an export of `family`, verified.

  `expected(meta)` gives the parameters the model config implies (a nested
  dict of arrays or ShapeDtypeStructs, e.g. `jax.eval_shape` of the model's
  init); it may raise CheckpointError for a config it cannot read. The
  returned params are numpy arrays nested like it; meta is config.json's object.

  Raises:
    errors.CheckpointError: a missing or unreadable file, another format or
      family, a sha256 that does not match (corrupt), keys, shapes or dtypes
      other than the model config's, or a value that is not finite.
  """
  from safetensors import numpy as st_numpy  # pylint: disable=g-import-not-at-top
  path = os.path.abspath(directory)
  config_path, weights_path = os.path.join(path, CONFIG), os.path.join(path, WEIGHTS)
  for file in (config_path, weights_path):
    if not os.path.isfile(file):
      raise errors.CheckpointError(f'No {os.path.basename(file)} in {path}: give the directory '
                                   'that `python -m experiments.export --output=DIR` wrote.')
  try:
    with open(config_path) as f:
      meta = json.load(f)
  except (OSError, ValueError) as e:
    raise errors.CheckpointError(f'{config_path} is not readable JSON ({e}).') from None
  if not isinstance(meta, dict) or meta.get('format') != FORMAT:
    found = meta.get('format') if isinstance(meta, dict) else None
    raise errors.CheckpointError(f'{config_path} is not an export of format {FORMAT} '
                                 f'(format {found!r}).')
  if meta.get('family') != family:
    other = LOADERS.get(str(meta.get('family')))
    raise errors.CheckpointError(f'{path} holds an export of the {meta.get("family")!r} model, '
                                 f'not of the {family!r} one' +
                                 (f': load it with {other}.' if other else '.'))
  if text_files.file_sha256(weights_path) != meta.get('safetensors_sha256'):
    raise errors.CheckpointError(f'{weights_path} does not match the sha256 in {CONFIG} '
                                 '(corrupt).')
  try:
    flat = st_numpy.load_file(weights_path)
  except Exception as e:  # pylint: disable=broad-except  # safetensors raises several types.
    raise errors.CheckpointError(f'{weights_path} cannot be read ({type(e).__name__}).') from e
  like = expected(meta)
  described = lambda x: f'{np.dtype(x.dtype).name}{list(np.shape(x))}'
  wanted = {key: described(x) for key, x in flatten(like).items()}
  found = {key: described(a) for key, a in flat.items()}
  diff = [f'{key}: {found.get(key, "absent")} in the file, {wanted.get(key, "absent")} for '
          'the model config' for key in sorted(set(wanted) | set(found))
          if wanted.get(key) != found.get(key)]
  if diff:
    raise errors.CheckpointError(f'{weights_path} does not hold the parameters of its model '
                                 f'config ({"; ".join(diff[:3])}{"; ..." if len(diff) > 3 else ""}).')
  bad = _nonfinite(flat)
  if bad:
    raise errors.CheckpointError(f'{weights_path} holds non-finite values ({", ".join(bad[:3])}).')
  return _unflatten_like(flat, like), meta
