r"""Converts a checkpoint of the original PyTorch "Landauer LLM" into a `seed` model.

`scripts/import_torch_checkpoint.py` is its command line. Reading the `.pth`
needs PyTorch (the optional `[torch]` extra, imported only by `load_original`);
the conversion and its check work on NumPy arrays.

The original's `.pth` holds a state dict
  token_embedding.weight            (V, E)
  rnn.input_linears.{l}.weight      (H, in)  in = E for l = 0, else H
  rnn.input_linears.{l}.bias        (H,)
  rnn.hidden_scale                  (L, H) or (H,) (shared), or a ParameterList
                                    stored as rnn.hidden_scale.{l}, (H,) each
  output_head.weight                (V, H)
  output_head.bias                  (V,)
next to a `config` dict and `itos` (list, or dict id -> character). The state
dict is either under `model_state_dict` / `state_dict` / `model`, or its keys
sit at the top level. Dimensions come from the tensor shapes (and must agree
with the config where it states them); the phase scaling c comes from the
config. The flax `seed` params are
  {'embed': {'embedding'}, 'layer_{l}': {'input_proj': {'kernel', 'bias'},
   'scale'}, 'head': {'kernel', 'bias'}},
kernels being the transposed torch Linear weights. Token ids keep the
original's order (the vocabulary string is `''.join(itos)`), so they match the
weights even where `itos` is not sorted.

The original's file holds tensors, dicts, lists, strings and numbers only, so
it is read with `torch.load(weights_only=True)`, which runs no code from the
file; `SAFE_GLOBALS` adds a config saved as an `argparse.Namespace` (`args`)
and the `pathlib` paths in it. A file that needs any other global to unpickle
(a pickled nn.Module, a dataclass config, a function) is refused
(`errors.CheckpointError`) unless the caller passes `trust_pickle=True`, which
runs whatever code the file names.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import pickle
import re
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import numpy as np

from landauerjax import constants
from landauerjax import input_pipeline
from landauerjax import models
from landauerjax.core import errors

# Container keys, tried in order.
STATE_DICT_KEYS = ('model_state_dict', 'state_dict', 'model', 'model_state', 'net')
CONFIG_KEYS = ('config', 'model_config', 'cfg', 'hparams', 'hyperparameters', 'args')
ITOS_KEYS = ('itos', 'idx_to_char', 'id_to_char', 'int_to_char', 'index_to_char',
             'chars', 'vocab')
STOI_KEYS = ('stoi', 'char_to_idx', 'char_to_id', 'char_to_int')
# Wrapper prefixes stripped when every key has them (DataParallel, torch.compile).
WRAPPER_PREFIXES = ('module.', '_orig_mod.', 'model.')

# Config aliases (compared case-insensitively), per ModelConfig field.
CONFIG_ALIASES = {
    'vocab_size': ('vocab_size', 'n_vocab', 'num_tokens', 'vocab'),
    'embed_dim': ('embed_dim', 'embedding_dim', 'emb_dim', 'embed_size',
                  'embedding_size', 'd_embed', 'n_embd'),
    'hidden_dim': ('hidden_dim', 'hidden_size', 'd_hidden', 'n_hidden', 'hidden'),
    'num_layers': ('num_layers', 'n_layers', 'n_layer', 'layers', 'depth'),
    'phase_scaling': ('phase_scaling', 'scaling', 'scaling_factor', 'phase_scale',
                      'layer_scaling', 'harmonic_scaling', 'scale_factor', 'c'),
    'base_phase': ('base_phase', 'phi_0', 'phi0', 'golden_angle', 'base_angle'),
}

# Globals allowed beyond torch's weights-only defaults, for `torch.serialization.
# safe_globals`: an `args` config and its paths. Paths become pure paths (no file
# access; a WindowsPath loads on Linux too) under each name they are pickled by:
# `pathlib.X`, and `pathlib._local.X` from Python 3.13.
_PURE_PATHS = {'PosixPath': pathlib.PurePosixPath, 'PurePosixPath': pathlib.PurePosixPath,
               'WindowsPath': pathlib.PureWindowsPath, 'PureWindowsPath': pathlib.PureWindowsPath}
SAFE_GLOBALS = [argparse.Namespace] + [
    (pure, f'{module}.{name}') for module in ('pathlib', 'pathlib._local')
    for name, pure in _PURE_PATHS.items()]

EMBED_KEY = 'token_embedding.weight'
HEAD_W_KEY = 'output_head.weight'
HEAD_B_KEY = 'output_head.bias'
SCALE_KEY = 'rnn.hidden_scale'


def _linear_key(layer: int, what: str) -> str:
  return f'rnn.input_linears.{layer}.{what}'


# ---------------------------------------------------------------------------
# Loading.
# ---------------------------------------------------------------------------


def _import_torch() -> Any:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        'Importing a PyTorch checkpoint needs PyTorch, which is optional for '
        'this project: pip install torch (CPU build is enough).') from e
  return torch


def _to_numpy(value: Any, torch: Any) -> np.ndarray | None:
  """A torch tensor (or array) as a NumPy array; None for anything else."""
  if isinstance(value, torch.Tensor):
    value = value.detach().cpu()
    if value.is_floating_point() and value.dtype not in (torch.float32, torch.float64):
      value = value.float()  # bfloat16 / float16 have no (exact) NumPy twin.
    return value.numpy()
  if isinstance(value, np.ndarray):
    return value
  return None


def _strip_wrapper_prefixes(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  changed = True
  while changed and state:
    changed = False
    for prefix in WRAPPER_PREFIXES:
      if all(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items()}
        changed = True
  return state


def _as_dict(obj: Any) -> dict[str, Any] | None:
  """A config-like object (dict, namespace, dataclass) as a plain dict."""
  if isinstance(obj, Mapping):
    return dict(obj)
  if hasattr(obj, '__dict__') and not isinstance(obj, type):
    return dict(vars(obj))
  return None


def _itos_list(obj: Any, where: str) -> list[str]:
  """itos as a list of characters in id order; ValueError when malformed."""
  if isinstance(obj, str):
    chars = list(obj)
  elif isinstance(obj, Mapping):
    try:
      by_id = {int(k): v for k, v in obj.items()}
    except (TypeError, ValueError) as e:
      raise ValueError(f'{where}: expected a mapping id -> character, got keys '
                       f'{list(obj)[:10]!r}...') from e
    if sorted(by_id) != list(range(len(by_id))):
      raise ValueError(f'{where}: ids are not 0..{len(by_id) - 1}: {sorted(by_id)!r}.')
    chars = [by_id[i] for i in range(len(by_id))]
  elif isinstance(obj, Sequence):
    chars = list(obj)
  else:
    raise ValueError(f'{where}: expected a list, dict or str, got {type(obj).__name__}.')
  bad = [c for c in chars if not (isinstance(c, str) and len(c) == 1)]
  if bad:
    raise ValueError(f'{where}: every entry must be one character; got {bad[:5]!r}.')
  if len(set(chars)) != len(chars):
    raise ValueError(f'{where}: repeated characters in the vocabulary.')
  return chars


def _find_itos(sources: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
  for name, d in sources:
    for key in ITOS_KEYS:
      if key in d and not isinstance(d[key], (int, float)):
        return _itos_list(d[key], f'{name}[{key!r}]')
  for name, d in sources:
    for key in STOI_KEYS:
      if key in d and isinstance(d[key], Mapping):
        stoi = d[key]
        return _itos_list({int(i): c for c, i in stoi.items()}, f'{name}[{key!r}] inverted')
  found = {name: sorted(map(str, d)) for name, d in sources}
  raise ValueError(f"No vocabulary: looked for 'itos' (or {ITOS_KEYS[1:]}, or a "
                   f'stoi in {STOI_KEYS}); keys found: {found}.')


def _refuse_pickle(pth_path: str, needs: str) -> errors.CheckpointError:
  return errors.CheckpointError(
      f'{pth_path}: unpickling it needs {needs}, beyond what a checkpoint of the original '
      'holds; that can run code from the file. Only for a file from a source you trust: '
      '--trust_pickle (trust_pickle=True).')


def _load_pickle(pth_path: str, trust_pickle: bool, torch: Any) -> Any:
  """torch.load restricted to torch's weights-only globals and SAFE_GLOBALS, unless
  `trust_pickle`; CheckpointError naming the globals a refused file needs."""
  with torch.serialization.safe_globals(SAFE_GLOBALS):  # For this load only.
    if not trust_pickle:
      try:  # Every global a zip checkpoint (torch >= 1.6) needs beyond those, unrun.
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(pth_path)
      except ValueError:  # The legacy format: the load below refuses its first one.
        unsafe = []
      if unsafe:
        raise _refuse_pickle(pth_path, ', '.join(sorted(unsafe)))
    try:
      return torch.load(pth_path, map_location='cpu', weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
      if trust_pickle:
        raise
      message = str(e.__context__ or e)  # The unpickler's own words, before torch's advice.
      found = re.search(r'GLOBAL (\S+) (?:was not an allowed|whose module)', message)
      raise _refuse_pickle(pth_path, found.group(1) if found
                           else ' '.join(message.split())) from None


def load_original(pth_path: str, *, trust_pickle: bool = False
                  ) -> tuple[dict[str, np.ndarray], dict[str, Any], list[str]]:
  """Reads the original `.pth`: (state dict as NumPy, config, itos).

  Refuses (CheckpointError) a file that needs a global other than torch's
  weights-only ones and SAFE_GLOBALS, unless `trust_pickle`: then the file is
  fully unpickled, which runs any code it names.
  """
  if not os.path.isfile(pth_path):
    raise FileNotFoundError(f'No such PyTorch checkpoint: {pth_path!r}.')
  torch = _import_torch()
  obj = _load_pickle(pth_path, trust_pickle, torch)
  if isinstance(obj, torch.nn.Module):
    obj = {'model': obj}
  if not isinstance(obj, Mapping):
    raise ValueError(f'{pth_path}: expected a dict at the top level, got '
                     f'{type(obj).__name__}.')
  top = dict(obj)
  raw = None
  for key in STATE_DICT_KEYS:
    if key in top:
      raw = top[key]
      if isinstance(raw, torch.nn.Module):
        raw = raw.state_dict()
      break
  if raw is None:  # Flat layout: state dict keys next to config and itos.
    raw = top
  if not isinstance(raw, Mapping):
    raise ValueError(f'{pth_path}: the state dict is a {type(raw).__name__}, not a dict.')
  state = {}
  for k, v in raw.items():
    arr = _to_numpy(v, torch)
    if arr is not None:
      state[str(k)] = arr
  state = _strip_wrapper_prefixes(state)
  if not state:
    raise ValueError(f'{pth_path}: no tensors found; top-level keys: {sorted(map(str, top))}.')

  config = None
  for key in CONFIG_KEYS:
    if key in top:
      config = _as_dict(top[key])
      if config is not None:
        break
  if config is None:
    raise ValueError(f"{pth_path}: missing key 'config' (or one of {CONFIG_KEYS[1:]}); "
                     f'top-level keys found: {sorted(map(str, top))}.')
  itos = _find_itos([('checkpoint', top), ('config', config)])
  return state, config, itos


# ---------------------------------------------------------------------------
# Conversion.
# ---------------------------------------------------------------------------


def _require(state: Mapping[str, np.ndarray], key: str) -> np.ndarray:
  if key not in state:
    raise ValueError(f'Missing key {key!r} in the state dict; keys found: {sorted(state)}.')
  return np.asarray(state[key])


def _config_value(config: Mapping[str, Any], field: str) -> tuple[str, Any] | None:
  """(original key, value) of the first numeric alias of `field` in config."""
  lowered = {str(k).lower(): k for k in config}
  for alias in CONFIG_ALIASES[field]:
    if alias in lowered:
      value = config[lowered[alias]]
      if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return lowered[alias], value
  return None


def _num_layers(state: Mapping[str, np.ndarray]) -> int:
  pattern = re.compile(r'^rnn\.input_linears\.(\d+)\.weight$')
  layers = sorted(int(m.group(1)) for k in state if (m := pattern.match(k)))
  if not layers:
    raise ValueError(f"Missing key {_linear_key(0, 'weight')!r} in the state dict; "
                     f'keys found: {sorted(state)}.')
  if layers != list(range(len(layers))):
    raise ValueError(f'rnn.input_linears layers are not 0..L-1: {layers}.')
  return len(layers)


def model_config_from_original(config: Mapping[str, Any],
                               state_dict: Mapping[str, np.ndarray]) -> models.ModelConfig:
  """ModelConfig(variant='original') from the tensor shapes and the original config."""
  vocab_size, embed_dim = _require(state_dict, EMBED_KEY).shape
  hidden_dim = _require(state_dict, _linear_key(0, 'weight')).shape[0]
  inferred = {'vocab_size': int(vocab_size), 'embed_dim': int(embed_dim),
              'hidden_dim': int(hidden_dim), 'num_layers': _num_layers(state_dict)}
  for field, value in inferred.items():
    stated = _config_value(config, field)
    if stated is not None and int(stated[1]) != value:
      raise ValueError(f'config[{stated[0]!r}] = {stated[1]} but the tensors give '
                       f'{field} = {value}.')
  scaling = _config_value(config, 'phase_scaling')
  if scaling is None:
    raise ValueError(
        f"Missing key 'phase_scaling' in the config (also tried "
        f"{CONFIG_ALIASES['phase_scaling'][1:]}); keys found: {sorted(map(str, config))}.")
  base = _config_value(config, 'base_phase')
  return models.ModelConfig(
      variant='original', phase_scaling=float(scaling[1]),
      base_phase=float(base[1]) if base else constants.GOLDEN_ANGLE, **inferred)


def _hidden_scales(state: Mapping[str, np.ndarray], num_layers: int,
                   hidden_dim: int) -> list[np.ndarray]:
  """s_l, (H,) each, from (L, H), shared (H,) / scalar, or rnn.hidden_scale.{l}."""
  if SCALE_KEY in state:
    s = np.asarray(state[SCALE_KEY])
    if s.shape == (num_layers, hidden_dim):
      return [s[l] for l in range(num_layers)]
    if s.shape in ((hidden_dim,), (), (1,)):
      return [np.broadcast_to(s, (hidden_dim,)) for _ in range(num_layers)]
    raise ValueError(f'{SCALE_KEY} has shape {s.shape}; expected ({num_layers}, '
                     f'{hidden_dim}) or ({hidden_dim},).')
  scales = []
  for l in range(num_layers):
    key = f'{SCALE_KEY}.{l}'
    if key not in state:
      raise ValueError(f'Missing key {SCALE_KEY!r} (or {key!r}) in the state dict; '
                       f'keys found: {sorted(state)}.')
    s = np.asarray(state[key])
    if s.shape not in ((hidden_dim,), (), (1,)):
      raise ValueError(f'{key} has shape {s.shape}; expected ({hidden_dim},).')
    scales.append(np.broadcast_to(s, (hidden_dim,)))
  return scales


def convert_params(state_dict: Mapping[str, np.ndarray],
                   model_config: models.ModelConfig) -> dict[str, Any]:
  """The flax `seed` params (float32 NumPy) of an original state dict."""
  cfg = model_config
  if cfg.variant != 'original':
    raise ValueError(f"Only the 'original' variant mirrors the original; got {cfg.variant!r}.")
  f32 = lambda x: np.array(x, dtype=np.float32)
  scales = _hidden_scales(state_dict, cfg.num_layers, cfg.hidden_dim)
  params = {'embed': {'embedding': f32(_require(state_dict, EMBED_KEY))}}
  for l in range(cfg.num_layers):
    params[f'layer_{l}'] = {
        'input_proj': {'kernel': f32(_require(state_dict, _linear_key(l, 'weight')).T),
                       'bias': f32(_require(state_dict, _linear_key(l, 'bias')))},
        'scale': f32(scales[l]),
    }
  params['head'] = {'kernel': f32(_require(state_dict, HEAD_W_KEY).T),
                    'bias': f32(_require(state_dict, HEAD_B_KEY))}
  # The tree must match what the model itself initialises, leaf for leaf.
  expected = jax.eval_shape(lambda key: models.init_params(cfg, key), jax.random.PRNGKey(0))
  flat_expected = dict(jax.tree_util.tree_flatten_with_path(expected)[0])
  flat_got = dict(jax.tree_util.tree_flatten_with_path(params)[0])
  if flat_expected.keys() != flat_got.keys():
    raise ValueError(f'Converted tree does not match the model: expected '
                     f'{sorted(map(jax.tree_util.keystr, flat_expected))}, got '
                     f'{sorted(map(jax.tree_util.keystr, flat_got))}.')
  for path, leaf in flat_got.items():
    if leaf.shape != flat_expected[path].shape:
      raise ValueError(f'{jax.tree_util.keystr(path)}: shape {leaf.shape} from the '
                       f'checkpoint, the model expects {flat_expected[path].shape}.')
  return params


def numpy_logits(state_dict: Mapping[str, np.ndarray], model_config: models.ModelConfig,
                 tokens_BxT: np.ndarray) -> np.ndarray:
  """Logits (B, T, V) of the original equations in float64 NumPy, zero state."""
  cfg = model_config
  scales = _hidden_scales(state_dict, cfg.num_layers, cfg.hidden_dim)
  k = np.arange(cfg.hidden_dim, dtype=np.float64)
  emb = np.asarray(state_dict[EMBED_KEY], np.float64)[tokens_BxT]
  hs = [np.zeros((tokens_BxT.shape[0], cfg.hidden_dim)) for _ in range(cfg.num_layers)]
  out = []
  for t in range(tokens_BxT.shape[1]):
    u = emb[:, t]
    for l in range(cfg.num_layers):
      w = np.asarray(state_dict[_linear_key(l, 'weight')], np.float64)
      b = np.asarray(state_dict[_linear_key(l, 'bias')], np.float64)
      phase = cfg.base_phase / cfg.phase_scaling**l * k
      hs[l] = np.tanh(u @ w.T + b + scales[l] * hs[l] * np.cos(phase + hs[l]))
      u = hs[l]
    out.append(u @ np.asarray(state_dict[HEAD_W_KEY], np.float64).T
               + np.asarray(state_dict[HEAD_B_KEY], np.float64))
  return np.stack(out, axis=1)


def max_logit_difference(state_dict: Mapping[str, np.ndarray], params: Any,
                         model_config: models.ModelConfig, steps: int = 16,
                         seed: int = 0) -> float:
  """max |flax - NumPy reference| over the logits of 2 random sequences."""
  tokens = np.random.default_rng(seed).integers(0, model_config.vocab_size, (2, steps))
  logits = models.LandauerLM(model_config).apply(
      {'params': params}, tokens, models.initial_state(model_config, 2))[0]
  return float(np.max(np.abs(np.asarray(logits) - numpy_logits(state_dict, model_config,
                                                                tokens))))


class Converted(NamedTuple):
  """An original checkpoint and its `seed` model."""
  state_dict: dict[str, np.ndarray]  # The original's tensors, as NumPy.
  original_config: dict[str, Any]
  model_config: models.ModelConfig
  params: dict[str, Any]  # The flax params, float32 NumPy.
  vocab_chars: str  # ''.join(itos): character i is token id i.


def convert_checkpoint(pth_path: str, *, trust_pickle: bool = False) -> Converted:
  """Reads an original `.pth` and converts it (`load_original`, `convert_params`)."""
  state, config, itos = load_original(pth_path, trust_pickle=trust_pickle)
  cfg = model_config_from_original(config, state)
  params = convert_params(state, cfg)
  if len(itos) != cfg.vocab_size:
    raise ValueError(f'itos has {len(itos)} characters, the embedding {cfg.vocab_size} rows.')
  return Converted(state, config, cfg, params, ''.join(itos))


# ---------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------


def json_safe(obj: Any) -> Any:
  """`obj` with str keys, non-finite floats as strings and anything else unknown as repr."""
  if isinstance(obj, Mapping):
    return {str(k): json_safe(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [json_safe(v) for v in obj]
  if isinstance(obj, (bool, int, str)) or obj is None:
    return obj
  if isinstance(obj, (float, np.floating)):
    return float(obj) if math.isfinite(obj) else str(obj)
  if isinstance(obj, np.integer):
    return int(obj)
  return repr(obj)


def write_checkpoint(workdir: str, params: Any, model_config: models.ModelConfig,
                     vocab_chars: str, extra: dict[str, Any]) -> str:
  """Writes an inference-only checkpoint that eval and generate load; returns its dir.

  Uses `landauerjax.checkpoints.save_params_only` (step 0); `extra` becomes the
  checkpoint's experiment config.
  """
  from landauerjax import checkpoints  # pylint: disable=g-import-not-at-top
  return checkpoints.save_params_only(
      workdir, params, model_config, input_pipeline.CharVocab(vocab_chars), extra)
