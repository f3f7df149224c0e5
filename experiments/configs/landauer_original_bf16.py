r"""The original's default run with bfloat16 matmul operands (mixed precision).

Same model, data and optimiser as `landauer_original.py`; only the feed-forward
matmuls (input projections, head) take bfloat16 operands with float32
accumulation. Parameters, recurrences and the loss stay float32. Faster on
CPUs with AVX512-BF16 (docs/BENCHMARKS.md); docs/RESULTS.md checks that the
validation loss does not suffer.

  python -m experiments.train_landauer \
    --config=experiments/configs/landauer_original_bf16.py --workdir=/tmp/landauer_original_bf16 \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt
"""

import ml_collections

from experiments.configs import landauer_original


def get_config() -> ml_collections.ConfigDict:
  config = landauer_original.get_config()
  config.model.matmul_dtype = 'bfloat16'
  return config
