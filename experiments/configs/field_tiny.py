r"""The field LM at its `tiny` size (2.4M parameters): the CPU config.

  python -m experiments.field train --config=experiments/configs/field_tiny.py \
    --workdir=/tmp/field --config.data.local_path=../shared/data/tiny_shakespeare.txt

Leave out `data.local_path` on a networked machine: the corpus then downloads.
Any key can be overridden with --config.KEY=VALUE (a schedule as a Python dict:
--config.train.perturbation_schedule="{0: 'beta', 1000: 'adaptive'}"). Every
other field_*.py config starts from get_config() here.
"""

import ml_collections

from fieldjax import constants


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0  # Parameters, batches and perturbations.
  config.log_every = 100

  config.data = ml_collections.ConfigDict()
  config.data.dataset = 'tiny_shakespeare'  # | local_text | wikitext-2 | wikitext-103 | c4
  config.data.local_path = ''  # Offline copy of the corpus ('' = download).
  config.data.data_dir = ''  # TFDS data dir ('' = TFDS's default).
  config.data.tokenizer = ''  # char | byte | sentencepiece; '' = char for text files.
  config.data.vocab_size = 8192  # SentencePiece only.

  config.model = ml_collections.ConfigDict()
  config.model.embed_dim = 64  # d: particle dimension.
  config.model.lags = 8  # K: tokens the lattice reads.
  config.model.lattice_dim = 4096  # D: lattice sites (the crystal is [D, d]).
  config.model.embedding = 'golden'  # | log_phase
  config.model.feature_norm = 16.0
  config.model.hebbian_rule = 'contrastive'  # | plain
  config.model.eta = constants.HEBBIAN_RATE  # 1/phi.
  config.model.decay = 1e-4
  # The lattice: 'fixed' random sites, or 'instar' (competitive Hebbian learning:
  # each position's lattice_winners most active sites move towards it at lattice_rate).
  config.model.lattice_rule = 'fixed'
  config.model.lattice_rate = 0.1
  config.model.lattice_winners = 16
  config.model.dtype = 'float32'  # | bfloat16 | float16
  config.model.field = ml_collections.ConfigDict()
  config.model.field.gravity = 0.05
  config.model.field.softening = 0.382
  config.model.field.axis_range = 4.0
  config.model.field.window = 256
  config.model.field.chunk = 128
  config.model.field.num_steps = 2  # Integration steps; 0: no gravity, and no recall charges.
  config.model.field.trace_scales = 0  # J golden-ratio traces the lattice reads (0: none).
  config.model.perturbation = ml_collections.ConfigDict()
  config.model.perturbation.levy_alpha = constants.LEVY_ALPHA
  config.model.perturbation.levy_scale = 0.01
  config.model.perturbation.levy_clip = 10.0
  config.model.perturbation.beta_a = constants.PHI
  config.model.perturbation.beta_b = constants.PHI
  config.model.perturbation.dt = 0.5
  config.model.collapse = ml_collections.ConfigDict()
  config.model.collapse.threshold = constants.COLLAPSE_THRESHOLD
  config.model.collapse.max_steps = 64
  config.model.collapse.rate = 2.0
  config.model.collapse.rule = 'measurement'  # | replicator (fieldjax/collapse.py).
  # The sparse crystal (fieldjax/sites.py): 2^table_bits hashed context sites; 0 = off.
  config.model.sites = ml_collections.ConfigDict()
  config.model.sites.table_bits = 0
  config.model.sites.orders = (1, 2, 3, 4, 5, 6, 7, 8)  # Context lengths, tokens.
  config.model.sites.eta = 0.3  # Rate of a new site ...
  config.model.sites.floor = 0.05  # ... annealing to this one,
  config.model.sites.anneal = 8.0  # over about this many visits.
  config.model.sites.cap = 2.0  # Largest summed rate of one site in one batch.
  # Recall (fieldjax/recall.py): particles read what followed the particles pulling them.
  config.model.recall = ml_collections.ConfigDict()
  config.model.recall.softening = 0.0  # The pull's eps; 0 turns recall off.
  config.model.recall.trace_scales = 2  # Field traces that join the particle in matching.
  config.model.recall.rate = 0.02  # The gains' delta-rule rate ...
  config.model.recall.floor = 1e-3  # Added to the successors' shares (dt = 0) ...
  config.model.recall.dt = 0.0  # ... or the charges' relaxation step (> 0; field_best.py).
  config.model.recall.buckets = 8  # ... one gain per log2 of the total pull.

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 2000
  config.train.batch_size = 32
  config.train.seq_len = 128
  # {first step: kind}, kinds none | levy | beta | adaptive.
  config.train.perturbation_schedule = {0: 'none'}
  # Stop (keeping the last good checkpoint) when the train CE exceeds this
  # multiple of ln V, the CE of a uniform guess; 0 turns the guard off.
  config.train.divergence_factor = 10.0
  # Devices of the mesh's `model` axis, which split the lattice and the crystal along
  # their lattice sites (landauerjax.core.sharding); the other devices split the batch.
  config.train.model_parallelism = 1

  config.eval = ml_collections.ConfigDict()
  config.eval.every = 500
  config.eval.seq_len = 0  # Validation window, tokens; 0: train.seq_len.
  config.eval.stride = 0  # 0: half the validation window (each target scored once).
  config.eval.max_tokens = 0  # 0: the whole validation split.
  config.eval.batch_size = 64

  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.every = 500
  config.checkpoint.keep = 2

  config.profile = ml_collections.ConfigDict()
  # (a, b): a jax.profiler trace of steps a..b into WORKDIR/profile/ (TensorBoard/xprof:
  # plugins/profile/<run>/*.xplane.pb; Perfetto: perfetto_trace.json.gz); () = none.
  config.profile.steps = ()
  return config
