"""Small pieces the entry points share, and `run`: absl's app.run with one-line errors."""

from __future__ import annotations

import difflib
import functools
import importlib.util
import logging as std_logging
import os
import sys
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging
import ml_collections

from landauerjax.core import errors
from landauerjax.core import preemption

_DEBUG = flags.DEFINE_bool('debug', False,
                           'On an error, show the whole traceback instead of one line.')
_COMPILATION_CACHE = flags.DEFINE_bool(
    'compilation_cache', True,
    "JAX's persistent compilation cache, so that a rerun, an eval or a resume loads its "
    'compiled programs instead of compiling them again: in --jax_compilation_cache_dir '
    '(or $JAX_COMPILATION_CACHE_DIR), else $XDG_CACHE_HOME or ~/.cache, under '
    'landauer_field_jax/jax_cache. --nocompilation_cache turns it off.')

_NOISY_PACKAGES = ('/orbax/', '/tensorflow_datasets/', '/etils/', '/jax/')


class _OwnInfoOnly(std_logging.Filter):
  """Keeps INFO records from our code; libraries only at WARNING and above."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    if record.levelno >= std_logging.WARNING:
      return True
    return not any(p in record.pathname for p in _NOISY_PACKAGES)


def quiet_libraries() -> None:
  """Shows our own INFO logs; hides TFDS progress bars and library chatter."""
  from landauerjax.core import distributed  # pylint: disable=g-import-not-at-top
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    tfds.disable_progress_bar()
  except ImportError:  # A machine without TFDS (the GPU image) runs what reads no corpus.
    pass
  # In a multi-process run, process 0 logs; the others only warn.
  primary = not distributed.initialized() or distributed.is_primary()
  logging.set_verbosity(logging.INFO if primary else logging.WARNING)
  logging.get_absl_handler().addFilter(_OwnInfoOnly())


# ---------------------------------------------------------------------------
# One-line errors.
# ---------------------------------------------------------------------------


def run(main: Callable[[list[str]], Any], *, trains: bool | Callable[[], bool] = False,
        default_config: str | None = None,
        renamed_config_keys: dict[str, str] | None = None) -> None:
  """`app.run(main)` where every mistake of the user's is one line and an exit code.

  * Flag and config mistakes (an unknown flag or config key, a bad value, a
    missing config file) print `error: ...` and exit 2, before anything runs.
  * `errors.UserError` (and `app.UsageError`) raised by `main` print
    `error: <message>` and exit with the error's code (2; 1 for a stopped run).
  * Ctrl-C prints one line and exits 130 (`trains`: the command trains in
    --workdir, so the line says which checkpoints are kept); a closed stdout
    (`... | head`) exits quietly.
  `--debug` shows the traceback instead. Anything else is a bug of ours and
  keeps its traceback. Every command also takes JAX's own flags (`--jax_debug_nans`,
  `--jax_log_compiles`, `--jax_compilation_cache_dir=DIR`, ...; `--helpfull` lists
  them) and uses JAX's persistent compilation cache unless `--nocompilation_cache`.
  `default_config`: the file `--config` names when the command line does not (a config file flag with a default would apply its
  overrides at import, before any error can be caught). `renamed_config_keys`
  ({old: new}, e.g. {'train.temperature': 'train.inertia_temperature'}): old
  spellings of config keys that `--config.OLD=...` still sets.
  """
  def parse(argv: list[str]) -> list[str]:
    if renamed_config_keys:
      argv = rename_config_flags(argv, renamed_config_keys, _load_config_file(argv))
    if default_config and not any(a == '--config' or a.startswith('--config=')
                                  for a in argv[1:]):
      argv = argv[:1] + [f'--config={default_config}'] + argv[1:]
    define_jax_flags()
    return _parse_flags(argv)
  app.run(functools.partial(_run_main, main, trains), flags_parser=parse)


def rename_config_flags(argv: list[str], renamed: dict[str, str],
                        config: ml_collections.ConfigDict | None) -> list[str]:
  """`--config.OLD[=V]` -> `--config.NEW[=V]` for each renamed config key that
  `config` (the config file's defaults) spells the new way."""
  def has(key: str) -> bool:
    node = config
    for part in key.split('.'):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        return False
      node = node[part]
    return True
  out = []
  for arg in argv:
    for old, new in renamed.items():
      if not has(new):
        continue
      flag = f'--config.{old}'
      if arg == flag or arg.startswith(flag + '='):
        arg = f'--config.{new}' + arg[len(flag):]
    out.append(arg)
  return out


def _debug_requested(argv: list[str] | None = None) -> bool:
  try:
    return bool(_DEBUG.value)
  except flags.UnparsedFlagAccessError:
    return any(a in ('--debug', '--debug=true', '--debug=1') for a in (argv or sys.argv))


def _fail(message: str, code: int) -> None:
  sys.stderr.write(f'error: {message}\n')
  sys.stderr.flush()
  sys.exit(code)


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    remaining = flags.FLAGS(argv)
    for name in ('config',):  # Config files load lazily: load them now, inside the try.
      value = flags.FLAGS[name].value if name in flags.FLAGS else None
      if value is not None:
        value.keys()  # A config file that failed to load raises here.
    _apply_jax_flags(argv)
    return remaining
  except flags.Error as e:
    message = str(e)
    if 'Unknown command line flag' in message and "'config." in message:
      message = config_error_message(argv, e)  # Config dict flags: list the known keys.
    error = e
  except Exception as e:  # pylint: disable=broad-except  # A config file can raise anything.
    message = config_error_message(argv, e)
    error = e
  if _debug_requested(argv):
    raise error
  _fail(message, 2)
  return []


def define_jax_flags() -> None:
  """Defines JAX's own flags (`--jax_debug_nans`, ...) on absl's FLAGS, once a process."""
  import jax  # pylint: disable=g-import-not-at-top
  if 'jax_debug_nans' not in flags.FLAGS:
    jax.config.config_with_absl()


def _apply_jax_flags(argv: list[str]) -> None:
  """Hands the parsed `--jax_*` flags to jax.config (JAX's own validators may refuse one).

  `config_with_absl` also does this after absl's first parse; done here, it happens
  for every parse, and a refused value is one line like any other flag mistake.
  """
  import jax  # pylint: disable=g-import-not-at-top
  try:
    jax.config.complete_absl_config(flags)
  except Exception as e:  # pylint: disable=broad-except  # JAX's validators raise anything.
    if _debug_requested(argv):
      raise
    given = [a for a in argv[1:] if a.startswith('--jax')]
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    _fail(f'bad JAX flag ({" ".join(given)}): {first}', 2)


def _use_compilation_cache() -> None:
  """JAX's persistent compilation cache: the user's directory (--jax_compilation_cache_dir
  or $JAX_COMPILATION_CACHE_DIR) or the per-user default; off with --nocompilation_cache."""
  import jax  # pylint: disable=g-import-not-at-top
  from landauerjax.core import compile_cache  # pylint: disable=g-import-not-at-top
  if not _COMPILATION_CACHE.value:
    jax.config.update('jax_enable_compilation_cache', False)
    return
  own_min_time = ('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS' in os.environ or
                  flags.FLAGS['jax_persistent_cache_min_compile_time_secs'].present)
  compile_cache.enable(jax.config.jax_compilation_cache_dir or compile_cache.default_dir(),
                       min_compile_time_secs=None if own_min_time
                       else compile_cache.MIN_COMPILE_TIME_SECS)


def _load_config_file(argv: list[str]) -> ml_collections.ConfigDict | None:
  """The ConfigDict that `--config=FILE` names (its defaults), or None."""
  path = None
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      path = arg.split('=', 1)[1]
    elif arg == '--config' and i + 1 < len(argv):
      path = argv[i + 1]
  if path is None:
    value = getattr(flags.FLAGS['config'], 'default', None) if 'config' in flags.FLAGS else None
    return value if isinstance(value, ml_collections.ConfigDict) else None
  if not os.path.isfile(path):
    return None
  try:
    spec = importlib.util.spec_from_file_location('_user_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()
  except Exception:  # pylint: disable=broad-except  # Reported by the caller instead.
    return None


def config_error_message(argv: list[str], error: Exception) -> str:
  """One line for a failed `--config` / `--config.KEY=VALUE`: which key, and what exists."""
  for arg in argv[1:]:
    if arg.startswith('--config=') or arg == '--config':
      path = arg.split('=', 1)[1] if '=' in arg else ''
      if path and not os.path.isfile(path):
        return (f'config file {path!r} not found; pass e.g. '
                '--config=experiments/configs/landauer_original.py.')
  config = _load_config_file(argv)
  if config is not None:
    from landauerjax.core import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
    known = sorted(workdir_lib.flatten(config.to_dict()))
    for arg in argv[1:]:
      if not arg.startswith('--config.'):
        continue
      key = arg[len('--config.'):].split('=', 1)[0]
      if key in known or any(k.startswith(key + '.') for k in known):
        continue
      leaf = key.rsplit('.', 1)[-1]
      guesses = ([k for k in known if k.rsplit('.', 1)[-1] == leaf]
                 or difflib.get_close_matches(key, known, n=2))
      hint = f'; did you mean --config.{guesses[0]}?' if guesses else ''
      section = key.rsplit('.', 1)[0] if '.' in key else ''
      in_section = [k for k in known if section and k.startswith(section + '.')]
      listed = in_section or sorted({k.split('.')[0] for k in known})
      return (f'unknown config key {key!r} ({arg}){hint} Known '
              f'{"keys of " + section if in_section else "top-level keys"}: '
              f'{", ".join(listed)}.')
  first = str(error).splitlines()[0] if str(error) else type(error).__name__
  if 'Failed loading config file' in str(error) or isinstance(error, SyntaxError):
    cause = error.__cause__ or error
    return (f'the config file failed to load ({type(cause).__name__}: '
            f'{str(cause).splitlines()[0] if str(cause) else ""}).')
  return f'bad --config ({type(error).__name__}: {first}).'


def _kept_checkpoints_note(trains: bool | Callable[[], bool]) -> str:
  """'; the checkpoints in DIR are kept ...' for an interrupted training run that saved any."""
  if not (trains() if callable(trains) else trains) or 'workdir' not in flags.FLAGS:
    return ''
  workdir = flags.FLAGS['workdir'].value or ''
  directory = os.path.join(workdir, 'checkpoints')
  if not workdir or not os.path.isdir(directory) or not any(
      n.isdigit() for n in os.listdir(directory)):
    return '; no checkpoint had been saved yet'
  return f'; the checkpoints in {directory} are kept (run the same command again to resume)'


def define_distributed_flags() -> None:
  """The flags of `jax.distributed.initialize` (trainers define them at import)."""
  flags.DEFINE_string('coordinator_address', '', 'Multi-process run: host:port of process 0 '
                      '(with --num_processes and --process_id on every process).')
  flags.DEFINE_integer('num_processes', None, 'Multi-process run: the number of processes.')
  flags.DEFINE_integer('process_id', None, 'Multi-process run: this process\'s index.')
  flags.DEFINE_bool('distributed', False, 'Multi-process run set up by the cluster '
                    '(SLURM, Open MPI, TPU pod): jax.distributed.initialize() detects it.')


def _initialize_distributed() -> None:
  """jax.distributed.initialize from the flags, where the command defines them."""
  if 'coordinator_address' not in flags.FLAGS:
    return
  from landauerjax.core import distributed  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  distributed.initialize(f.coordinator_address, f.num_processes, f.process_id,
                         auto=f.distributed)


def _run_main(main: Callable[[list[str]], Any], trains: bool | Callable[[], bool],
              argv: list[str]) -> Any:
  try:
    _use_compilation_cache()  # Here: after absl's own hand-over of the --jax_* flags.
    _initialize_distributed()
    return main(argv)
  except (errors.UserError, app.UsageError) as e:
    if _debug_requested():
      raise
    _fail(str(e).strip().replace('\n', ' '), getattr(e, 'exit_code', 2))
  except preemption.Preempted as e:  # SIGTERM or Ctrl-C: the step in flight is saved.
    if _debug_requested():
      raise
    sys.stderr.write(f'{e}\n')  # 'stopped by SIGTERM after step N, ...': one line.
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(e.exit_code)  # As below: the run's files are closed; skip library teardown.
  except KeyboardInterrupt:
    if _debug_requested():
      raise
    sys.stderr.write('error: interrupted' + _kept_checkpoints_note(trains) + '\n')
    sys.stderr.flush()
    sys.stdout.flush()
    # Saves are never interrupted (core.checkpoints.deferred_interrupts) and the run's
    # files are closed by now; skip the interpreter's teardown, where library threads
    # (orbax, TFDS) stopped in mid-work can fail noisily.
    os._exit(130)
  except BrokenPipeError:
    # The reader of stdout (e.g. `| head`) has gone: stop quietly. Point stdout
    # at /dev/null so that the interpreter's final flush does not fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
  return None
