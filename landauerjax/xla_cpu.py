"""One XLA CPU compiler setting: compile each small `lax.scan` as one function.

XLA's CPU runtime runs a while loop (what `lax.scan` lowers to) one iteration
at a time, dispatching every kernel of the body separately. XLA can instead
compile a whole loop into a single function ("small while loop hoisting"),
but by default only for loops that touch very few bytes.
`with_small_loop_threshold` raises that limit.

Measured on the 2-core CPU (docs/BENCHMARKS.md): sampling, a scan of tiny
batch-1 steps, ran 1.0-1.9x as fast hoisted (never slower), so
`experiments.generate_landauer` uses it. Training was mixed over three runs
(step time hoisted / default): seed configs 0.98-1.54x, LSTM 0.90-1.03x, GRU
0.94-1.05x; a hoisted loop runs on one thread and no longer overlaps other
work. `experiments.train_landauer` leaves XLA's default.

The setting lives in the `XLA_FLAGS` environment variable, which XLA reads
once, when JAX creates its first backend: call `set_small_loop_threshold`
before any JAX computation. It is read by XLA's CPU compiler only.

It relies on one XLA behaviour, so it checks for it rather than assuming it:
`small_loops_hoisted()` compiles a probe loop and looks for the hoisted call,
and `warn_unless_hoisted()` says in one warning line when this XLA does not
hoist (the code then runs as without the setting: correct, slower). Where it
was measured: jax 0.10.2 hoists only with the setting; jax 0.12.1 hoists the
probe loop by default, so there the setting changes nothing for small loops.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping

from absl import logging

SMALL_LOOP_KEY = 'xla_cpu_small_while_loop_byte_threshold'
# Loops touching fewer bytes than this (per XLA's cost analysis of the whole
# loop) become one compiled function. 256 MiB is far above any sampling scan
# of our configs (batch 1) and above a seed training scan at batch 32 x 64.
DEFAULT_SMALL_LOOP_BYTES = 256 << 20

_EXTRA_OPTIONS_FLAG = re.compile(r'--xla_backend_extra_options=(\S*)')


def with_small_loop_threshold(xla_flags: str, max_bytes: int) -> str:
  """`xla_flags` (an XLA_FLAGS string) with the small-loop threshold added.

  A threshold already present in `xla_flags` wins and the string comes back
  unchanged; other `--xla_backend_extra_options` entries are kept (the key
  joins their comma-separated list).
  """
  if max_bytes < 0:
    raise ValueError(f'max_bytes must be >= 0, got {max_bytes}.')
  entry = f'{SMALL_LOOP_KEY}={max_bytes}'
  found = _EXTRA_OPTIONS_FLAG.search(xla_flags)
  if found is None:
    return f'{xla_flags} --xla_backend_extra_options={entry}'.strip()
  options = [o for o in found.group(1).split(',') if o]
  if any(o.split('=', 1)[0] == SMALL_LOOP_KEY for o in options):
    return xla_flags
  merged = ','.join(options + [entry])
  return (xla_flags[:found.start()] + f'--xla_backend_extra_options={merged}'
          + xla_flags[found.end():])


def set_small_loop_threshold(max_bytes: int = DEFAULT_SMALL_LOOP_BYTES,
                             environ: MutableMapping[str, str] | None = None
                             ) -> str:
  """Puts the threshold into `environ['XLA_FLAGS']` (default: os.environ).

  Returns the new XLA_FLAGS. Raises RuntimeError when JAX has already created
  a backend (XLA has read its flags by then, so the setting would be silently
  ignored). `max_bytes=0` leaves XLA_FLAGS as it is.
  """
  environ = os.environ if environ is None else environ
  if max_bytes == 0:
    return environ.get('XLA_FLAGS', '')
  flags_str = with_small_loop_threshold(environ.get('XLA_FLAGS', ''), max_bytes)
  if flags_str == environ.get('XLA_FLAGS', ''):
    return flags_str  # Already set (e.g. a second call in one process): nothing to do.
  initialized = backends_initialized()
  if initialized:
    raise RuntimeError(
        'set_small_loop_threshold must run before the first JAX computation: '
        'XLA has already read XLA_FLAGS.')
  if initialized is None:
    logging.warning('This JAX does not say whether XLA has read XLA_FLAGS yet; the '
                    'small-loop threshold applies only if no JAX computation ran before.')
  environ['XLA_FLAGS'] = flags_str
  return flags_str


def backends_initialized() -> bool | None:
  """Whether JAX has created a backend (XLA has then read XLA_FLAGS).

  JAX has no public function for this; its private one has lived in
  `jax._src.xla_bridge` since jax 0.4. None where it moved (unknown).
  """
  try:
    from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):
    return None


# What XLA's CPU compiler names a hoisted loop in its compiled HLO text.
HOISTED_CALL_MARKER = 'xla_cpu_small_call'


def small_loops_hoisted() -> bool:
  """Whether XLA compiles a small `lax.scan` (batch 32, 256 units, 64 steps) as one call.

  Compiles the probe on the CPU (~0.1 s); XLA has read XLA_FLAGS by then, so
  call it after `set_small_loop_threshold`.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  cpu = jax.local_devices(backend='cpu')[0]
  step = lambda h, z: (jnp.tanh(z + h * jnp.cos(h)), h)
  scan = jax.jit(lambda h, z: jax.lax.scan(step, h, z)[1])
  h, z = jax.device_put((jnp.ones((32, 256)), jnp.ones((64, 32, 256))), cpu)
  text = scan.lower(h, z).compile().as_text()
  return HOISTED_CALL_MARKER in (text or '')


def warn_unless_hoisted() -> bool:
  """`small_loops_hoisted()`, with one warning line when False (the setting has no
  effect on this XLA: loops run an iteration at a time, correct but slower).
  True without a probe where JAX computes on another backend (the setting is the
  CPU compiler's only)."""
  import jax  # pylint: disable=g-import-not-at-top
  if jax.default_backend() != 'cpu':
    return True
  hoisted = small_loops_hoisted()
  if not hoisted:
    logging.warning('This XLA does not compile small loops as one call (no %r in the '
                    'probe); sampling runs at XLA\'s default speed.', HOISTED_CALL_MARKER)
  return hoisted


def hoist_sampling_loops() -> bool:
  """`set_small_loop_threshold()` then `warn_unless_hoisted()`, for a command that
  samples; where JAX already runs in this process (a notebook), one warning line
  instead: the samples are the same, on CPU slower. Returns whether it was set."""
  try:
    set_small_loop_threshold()
  except RuntimeError:
    logging.warning('JAX is already running in this process: sampling without the '
                    'hoisted loops of landauerjax.xla_cpu (slower on CPU, same samples).')
    return False
  warn_unless_hoisted()  # One warning line where this XLA ignores the setting.
  return True
