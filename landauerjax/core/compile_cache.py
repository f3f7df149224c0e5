"""JAX's persistent compilation cache: a rerun, an eval or a resume loads its compiled
programs from disk instead of compiling them again.

Pure of flags: `experiments.common.run` decides the directory (the user's
`--jax_compilation_cache_dir` / `JAX_COMPILATION_CACHE_DIR`, else `default_dir()`)
and whether the cache is on (`--nocompilation_cache`), then calls `enable`.
JAX names an entry by a hash of the program, the compiler options, the devices and
the versions of jax and jaxlib, so one directory serves every model, config and
machine sharing it; a changed program is a new entry, never a wrong one.
"""

from __future__ import annotations

import os
import tempfile

from absl import logging
import jax

# Compiles faster than this are not written. JAX's default, 1.0 s, leaves out nearly all of
# a small model's programs: on a 2-core CPU landauer_original's train step compiles in
# ~1.4 s, its loss and evaluation in 0.4-1.0 s, and some 40 small programs
# (initialisation, slicing, metrics) in 0.01-0.4 s, ~3 s in all. Measured there (paired
# runs), a resumed run took 0.87x the wall time with every program cached (0 s) than with
# only those over 0.3 s, and an eval no longer; JAX hashes
# every program to look it up whatever this threshold is, so caching the small ones costs
# only their disk: ~10 KB each, 0.5 MB for a train + eval of landauer_original.
MIN_COMPILE_TIME_SECS = 0.0


def default_dir() -> str:
  """The per-user cache: $XDG_CACHE_HOME/landauer_field_jax/jax_cache, else under
  ~/.cache (the same directory scripts/benchmark_device.py uses by default)."""
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'landauer_field_jax', 'jax_cache')


def enable(cache_dir: str, *, min_compile_time_secs: float | None = MIN_COMPILE_TIME_SECS
           ) -> str:
  """Turns JAX's persistent compilation cache on in `cache_dir` (created if missing).

  Call it before the first compilation: JAX decides once per process whether to use
  the cache. `min_compile_time_secs`: compiles faster than this are not cached (None
  keeps JAX's current setting, e.g. the user's own flag).

  Returns:
    The directory in use (absolute), or '' when it cannot be written: then one
    warning is logged and the persistent cache is turned off (a directory set
    earlier, e.g. by JAX_COMPILATION_CACHE_DIR, included): the run goes on without it.
  """
  path = os.path.abspath(os.path.expanduser(cache_dir))
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):  # Writable? (os.access misjudges e.g. NFS.)
      pass
  except OSError as e:
    logging.warning('The compilation cache %s cannot be written (%s); running without it.',
                    path, e.strerror or type(e).__name__)
    jax.config.update('jax_enable_compilation_cache', False)
    return ''
  jax.config.update('jax_compilation_cache_dir', path)
  if min_compile_time_secs is not None:
    jax.config.update('jax_persistent_cache_min_compile_time_secs', min_compile_time_secs)
  return path
