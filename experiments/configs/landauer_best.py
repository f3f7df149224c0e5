r"""Our best Landauer variant: `phasor` rotation recurrence, 4 x 192, 2000 steps.

Linear complex rotations at golden-angle spacing, slower with depth (harmonic
stacking), the same inertia penalty; pre-norm residual GLU blocks, dropout 0.2
and AdamW weight decay 0.1 (without them it overfits after ~1000 steps).
Feed-forward matmuls take bfloat16 operands (float32 accumulation and
parameters): ~30% faster on this CPU, which keeps 2000 steps well inside the
20-minute budget (docs/BENCHMARKS.md); --config.model.matmul_dtype=float32
runs it all in float32.

  python -m experiments.train_landauer \
    --config=experiments/configs/landauer_best.py --workdir=/tmp/landauer_best \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt
"""

import ml_collections

from experiments.configs import landauer_original


def get_config() -> ml_collections.ConfigDict:
  config = landauer_original.get_config()
  config.model.variant = 'phasor'
  config.model.num_layers = 4
  config.model.model_dim = 192
  config.model.hidden_dim = 192  # Complex state size per layer.
  config.model.mlp_ratio = 2
  config.model.dropout = 0.2
  config.model.phase_scaling = 2.0
  config.model.matmul_dtype = 'bfloat16'
  config.train.seq_len = 128
  config.train.optimizer = 'adamw'
  config.train.weight_decay = 0.1
  config.train.schedule = 'cosine'
  config.train.warmup_steps = 100
  config.train.learning_rate = 3e-3
  config.train.final_lr_fraction = 0.05
  return config
