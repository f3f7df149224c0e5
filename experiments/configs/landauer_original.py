r"""The original Landauer LLM's default run: `original` cell, 2 x 256, 2000 steps.

  python -m experiments.train_landauer \
    --config=experiments/configs/landauer_original.py --workdir=/tmp/landauer_original \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt

Leave out `data.local_path` on a networked machine: the corpus then downloads.
Every other config in this folder starts from `get_config()` here.
"""

import ml_collections

from landauerjax import constants


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.log_every = 100

  config.data = ml_collections.ConfigDict()
  config.data.dataset = 'tiny_shakespeare'  # Or 'local_text' with local_path.
  config.data.local_path = ''  # Offline copy of the corpus ('' = download).
  config.data.data_dir = ''  # TFDS data dir ('' = TFDS's default).

  config.model = ml_collections.ConfigDict()
  config.model.variant = 'original'  # original | phasor | lstm | gru
  config.model.embed_dim = 64
  config.model.hidden_dim = 256
  config.model.num_layers = 2
  config.model.phase_scaling = 2.0
  config.model.base_phase = constants.GOLDEN_ANGLE
  # phasor only:
  config.model.model_dim = 256
  config.model.mlp_ratio = 2
  config.model.r_min = 0.9
  config.model.r_max = 0.999
  config.model.max_phase = 3.141592653589793
  config.model.dropout = 0.0
  config.model.scan = 'sequential'  # or 'associative'
  config.model.unroll = 1
  # Feed-forward matmul operands: 'float32' or 'bfloat16' (float32 accumulation).
  config.model.matmul_dtype = 'float32'

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 32
  config.train.seq_len = 64
  config.train.num_steps = 2000
  config.train.optimizer = 'adam'  # adam | adamw
  config.train.learning_rate = 3e-3
  config.train.weight_decay = 0.0
  config.train.schedule = 'constant'  # constant | cosine
  config.train.warmup_steps = 0
  config.train.final_lr_fraction = 0.0  # cosine only.
  config.train.grad_clip = 1.0  # Global norm; 0 disables.
  config.train.energy_weight = 0.1
  config.train.inertia_temperature = 0.05  # tau of the inertia penalty (was train.temperature)
  # Stop (keeping the last good checkpoint) when the train loss exceeds this
  # multiple of ln V, the loss of a uniform guess; 0 turns the guard off.
  config.train.divergence_factor = 10.0

  config.eval = ml_collections.ConfigDict()
  config.eval.every = 500
  config.eval.num_streams = 32  # Parallel streams over the validation split.
  config.eval.window = 256  # Characters per scan call; state carries across.

  config.checkpoint = ml_collections.ConfigDict()
  config.checkpoint.every = 500
  config.checkpoint.keep = 3

  config.profile = ml_collections.ConfigDict()
  # (a, b): a jax.profiler trace of steps a..b into WORKDIR/profile/ (TensorBoard/xprof:
  # plugins/profile/<run>/*.xplane.pb; Perfetto: perfetto_trace.json.gz); () = none.
  config.profile.steps = ()
  return config
