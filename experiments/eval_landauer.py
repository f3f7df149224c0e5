r"""Evaluates a checkpoint on the whole validation split; prints one JSON line.

  python -m experiments.eval_landauer --workdir=/tmp/landauer_original \
    --config.data.local_path=../shared/data/tiny_shakespeare.txt

Output keys: val_ce (nats/char), val_bpc (bits/char), chars (targets scored),
step, variant. --all_protocols adds val_ce_reset (zero state every
--config.eval.window chars) and one_batch_loss (the original's protocol: CE +
energy of one random 32x64 validation batch, seed --config.seed).
"""

import json
import os

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags

from experiments import common
from landauerjax import evaluation
from landauerjax import checkpoints
from landauerjax import input_pipeline
from landauerjax import models
from landauerjax.core import errors


FLAGS = flags.FLAGS
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), 'configs', 'eval_landauer.py')
# A config file given by common.run when --config is absent, not a config dict or a
# default: then its --config.KEY overrides are checked with the flags, not at import.
config_flags.DEFINE_config_file(
    'config', None, 'Evaluation overrides (--config.KEY=VALUE; default: '
    'experiments/configs/eval_landauer.py).', lock_config=True)
flags.DEFINE_string('workdir', None, 'Training workdir holding checkpoints/.')
flags.DEFINE_integer('step', None, 'Checkpoint step (default: latest).')
flags.DEFINE_bool('all_protocols', False, 'Also report the reset and one-batch protocols.')
flags.mark_flag_as_required('workdir')


def data_config_for(saved: dict, overrides: ml_collections.ConfigDict
                    ) -> ml_collections.ConfigDict:
  data = ml_collections.ConfigDict(saved.get('data') or
                                   {'dataset': 'tiny_shakespeare', 'local_path': '',
                                    'data_dir': ''})
  for key in ('dataset', 'local_path', 'data_dir'):
    if overrides[key]:
      data[key] = overrides[key]
  return data


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  common.quiet_libraries()
  cfg = FLAGS.config
  for name in ('num_streams', 'window'):
    if cfg.eval[name] < 1:
      raise errors.ConfigError(f'--config.eval.{name} must be >= 1, got {cfg.eval[name]}.')
  loaded = checkpoints.load_for_inference(FLAGS.workdir, FLAGS.step)
  corpus = input_pipeline.load_corpus(data_config_for(loaded.config, cfg.data),
                                      vocab=loaded.vocab)
  saved_run = loaded.run or {}
  fingerprint = input_pipeline.fingerprint(corpus)
  if saved_run.get('data_fingerprint') not in (None, fingerprint):
    logging.warning('The data differs from the corpus this checkpoint was trained on '
                    '(sha256 %s, trained on %s): evaluating on it anyway.', fingerprint[:12],
                    saved_run['data_fingerprint'][:12])
  model = models.LandauerLM(loaded.model_config)
  result = evaluation.evaluate(loaded.params, model, corpus.validation,
                          num_streams=cfg.eval.num_streams, window=cfg.eval.window)
  record = {'val_ce': result['ce'], 'val_bpc': result['bpc'], 'chars': result['chars'],
            'step': loaded.step, 'variant': loaded.model_config.variant}
  if FLAGS.all_protocols:
    record.update(evaluation.other_protocols(loaded.params, model, corpus.validation,
                                        num_streams=cfg.eval.num_streams,
                                        window=cfg.eval.window, seed=cfg.seed))
  print(json.dumps(record), flush=True)


def cli() -> None:
  """The command line: `main` with one-line errors (experiments.common.run)."""
  common.run(main, default_config=DEFAULT_CONFIG)


if __name__ == '__main__':
  cli()
