"""Sparse crystal sites: a hashed, high-capacity Hebbian memory of exact contexts.

The dense crystal (`fieldjax.crystal`) reads D random features of the last K
particles: a readout that smooths over similar contexts but cannot hold the
statistics of many long ones (it stays a trigram-class model). The sparse
crystal adds R = 2^table_bits sites, each a row of V logits. A particle at t
activates one site per context order n (its own token and the n - 1 before
it):

    r_n(t) = hash(n, tokens t, t-1, ..., t-n+1) >> (32 - table_bits)

(a Fibonacci hash over the particles' identities, so exactly |orders| of the R
sites are active: the sparsest k-winners-take-all). The active sites add their
rows to the logits,

    logits_t += sum_n M[r_n(t)],

and every active site learns with the delta rule on the joint error,

    M[r] <- M[r] + min(rate_r, cap / hits_r) * sum_{t: r active} (onehot(y_t) - p_t),
    rate_r = max(floor, eta / (1 + n_r / anneal)),

where n_r counts the site's visits before this batch (its "mass") and hits_r
its visits in this batch. So a new site learns fast and a heavy one anneals to
`floor` (it has crystallised); the cap keeps a site hit many times in one
batch from taking one huge step (with 4,096 positions a batch, a common
order-1 site is hit hundreds of times). Each update uses only the activity on
both sides of the site's synapses: no error reaches anything else.

Orders whose context runs past the start of the sequence (or into left
padding) are inactive at that position: nothing is read or learned there.

Everything here is for one sequence [T] or a flat batch [N]; callers vmap.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

_GOLDEN_32 = 0x9E3779B1  # 2^32 / phi: Fibonacci hashing's multiplier.
_MIX_32 = 0x85EBCA6B


@dataclasses.dataclass(frozen=True)
class SitesConfig:
  """The sparse crystal; table_bits = 0 turns it off (the old dense-only model)."""
  table_bits: int = 0          # log2 of the number of sites R.
  orders: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)  # Context lengths, tokens.
  eta: float = 0.3             # Rate of a new site.
  floor: float = 0.05          # Rate of a crystallised site.
  anneal: float = 8.0          # Visits over which the rate falls ~1/n.
  cap: float = 2.0             # Largest summed rate of one site in one batch.

  def __post_init__(self):
    object.__setattr__(self, 'orders', tuple(int(n) for n in self.orders))
    if not 0 <= self.table_bits <= 30:
      raise ValueError(f'sites.table_bits must be in [0, 30] (0 turns the sites off), '
                       f'got {self.table_bits}.')
    if self.table_bits and (not self.orders or min(self.orders) < 1
                            or len(set(self.orders)) != len(self.orders)):
      raise ValueError(f'sites.orders must be distinct context lengths >= 1, got '
                       f'{self.orders}.')
    for name in ('eta', 'floor', 'anneal', 'cap'):
      if not getattr(self, name) > 0:
        raise ValueError(f'sites.{name} must be > 0, got {getattr(self, name)}.')

  @property
  def enabled(self) -> bool:
    return self.table_bits > 0

  @property
  def num_sites(self) -> int:
    return 1 << self.table_bits if self.table_bits else 0


def _mix(h: jax.Array, v: jax.Array) -> jax.Array:
  """One round of a 32-bit multiply-xorshift hash (wraps mod 2^32)."""
  h = (h ^ v.astype(jnp.uint32)) * jnp.uint32(_GOLDEN_32)
  h = h ^ (h >> 15)
  h = h * jnp.uint32(_MIX_32)
  return h ^ (h >> 13)


def addresses(tokens_T: jax.Array, valid_T: jax.Array | None,
              cfg: SitesConfig) -> tuple[jax.Array, jax.Array]:
  """Active sites of each position: (rows int32 [T, O], active bool [T, O]).

  Position t's order-n site hashes tokens t, t-1, ..., t-n+1; it is active
  only if all n are real tokens (inside the sequence and `valid_T`).
  """
  length = tokens_T.shape[0]
  valid = jnp.ones((length,), bool) if valid_T is None else valid_T.astype(bool)
  top = max(cfg.orders)

  def pad(a, k, fill):  # a shifted k places later: a[t - k], `fill` before the start.
    return jnp.concatenate([jnp.full((min(k, length),), fill, a.dtype), a[:max(length - k, 0)]])

  ids = tokens_T.astype(jnp.uint32) + 1  # 0 is "before the start".
  h = jnp.full((length,), 0x2545F491, jnp.uint32)
  ok = jnp.ones((length,), bool)
  by_order = {}
  for k in range(top):  # Lag k: token t - k joins the hash of orders > k.
    h = _mix(h, pad(ids, k, jnp.uint32(0)))
    ok = ok & pad(valid, k, False)
    if k + 1 in cfg.orders:
      by_order[k + 1] = (_mix(h, jnp.full((length,), k + 1, jnp.uint32)), ok)
  rows = jnp.stack([by_order[n][0] for n in cfg.orders], 1) >> (32 - cfg.table_bits)
  active = jnp.stack([by_order[n][1] for n in cfg.orders], 1)
  return rows.astype(jnp.int32), active


def site_logits(table_RxV: jax.Array, rows_NxO: jax.Array, active_NxO: jax.Array) -> jax.Array:
  """Sum of the active sites' rows, [N, V] in the table's dtype."""
  return jnp.einsum('no,nov->nv', active_NxO.astype(table_RxV.dtype), table_RxV[rows_NxO])


def site_update(table_RxV: jax.Array, visits_R: jax.Array, rows_NxO: jax.Array,
                active_NxO: jax.Array, error_NxV: jax.Array, cfg: SitesConfig,
                weight_N: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """The delta rule of the active sites (module docstring): (new table, new visits).

  Args:
    table_RxV: site rows M.
    visits_R: visits of each site before this batch (float32 counts; exact up to
      2^24, far beyond where the rate has reached `floor`).
    rows_NxO, active_NxO: `addresses` of N positions.
    error_NxV: onehot(target) - p of each position (the joint prediction's).
    cfg: the sites' rates.
    weight_N: 0/1 per position (e.g. padding); None keeps all.
  """
  on_NxO = active_NxO.astype(jnp.float32)
  if weight_N is not None:
    on_NxO = on_NxO * weight_N.astype(jnp.float32)[:, None]
  flat, on_flat = rows_NxO.reshape(-1), on_NxO.reshape(-1)
  # Scatters and gathers of the active rows only: nothing of size R is touched densely.
  new_visits_R = visits_R.at[flat].add(on_flat)
  before = visits_R[flat]
  hits = new_visits_R[flat] - before  # This batch's visits of each active row's site.
  rate = jnp.maximum(cfg.floor, cfg.eta / (1.0 + before / cfg.anneal))
  step = jnp.minimum(rate, cfg.cap / jnp.maximum(hits, 1.0)) * on_flat
  delta = step[:, None] * jnp.repeat(error_NxV, rows_NxO.shape[1], axis=0)
  return table_RxV.at[flat].add(delta.astype(table_RxV.dtype)), new_visits_R
