r"""Sample quality: the field LM's collapse against plain sampling, beside the Landauer LM.

  python -m scripts.sample_quality --field_workdir=/tmp/field_best \
    --landauer_workdir=/tmp/landauer --local_path=../shared/data/tiny_shakespeare.txt

For each model and sampler, --seeds samples of --num_chars characters after
--prompt, at one --temperature, and their diversity and repetition
(landauerjax.core.sample_metrics.summarize: distinct 4- and 8-grams, the longest
repeat, the fraction of words found in the training split). The field LM samples
with the same key under each collapse rule (fieldjax.collapse.RULES) and plainly
(collapse 'off'). Validation text excerpts of the same length are the reference
row. Prints a table and writes --output_json.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app
from absl import flags
import jax
import numpy as np

from experiments import common
from fieldjax import checkpoints as field_checkpoints
from fieldjax import collapse
from fieldjax import generation
from landauerjax import checkpoints
from landauerjax import sampling
from landauerjax.core import reports
from landauerjax.core import sample_metrics
from landauerjax.core import text_files
from landauerjax.core import tokenizers

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This script's flags; defined only when it runs, so that tests can import it."""
  flags.DEFINE_string('field_workdir', None, 'A field LM training workdir.', required=True)
  flags.DEFINE_string('landauer_workdir', '', "A Landauer LM workdir ('' = none).")
  flags.DEFINE_string('local_path', '../shared/data/tiny_shakespeare.txt',
                      'The corpus: its training split gives the known words, its '
                      'validation split the reference excerpts.')
  flags.DEFINE_integer('num_chars', 2000, 'Characters per sample.', lower_bound=1)
  flags.DEFINE_integer('seeds', 3, 'Samples per model and sampler.', lower_bound=1)
  flags.DEFINE_float('temperature', 1.0, 'Sampling temperature, the same for all.')
  flags.DEFINE_string('prompt', '\n', 'Prompt of every sample.')
  flags.DEFINE_integer('context', 0, "Field LM: tokens of context; 0: the checkpoint's "
                       'validation window (as `experiments.field generate`).', lower_bound=0)
  flags.DEFINE_string('output_json', 'docs/sample_quality.json', "Results ('' = none).")


def field_samples(workdir: str, prompt: str, num_chars: int, seeds: int,
                  temperature: float, context: int = 0) -> dict[str, list[str]]:
  """{'collapse, RULE': [...] for each rule, 'plain sampling': [...]}: samples of the
  field LM in `workdir`, each seeing `context` tokens (0: its validation window)."""
  _, params, cfg, meta = field_checkpoints.load(workdir)
  context = context or field_checkpoints.validation_window(meta)
  tokenizer = tokenizers.tokenizer_from_json(meta['tokenizer'])

  def sample(rule: str, seed: int) -> str:
    chunks = generation.generate(params, collapse.with_rule(cfg, rule), tokenizer.encode(prompt),
                                 num_tokens=num_chars, key=jax.random.PRNGKey(seed),
                                 temperature=temperature, context=context)
    return tokenizer.decode(np.concatenate([chunk['tokens'] for chunk in chunks]))
  samplers = {f'collapse, {rule}': rule for rule in collapse.RULES} | {'plain sampling': 'off'}
  return {name: [sample(rule, seed) for seed in range(seeds)] for name, rule in samplers.items()}


def landauer_samples(workdir: str, prompt: str, num_chars: int, seeds: int,
                     temperature: float) -> list[str]:
  loaded, model, prompt_ids = checkpoints.load_for_prompt(workdir, None, prompt)
  return [loaded.vocab.decode(np.concatenate(list(sampling.generate(
      loaded.params, model, prompt_ids, num_chars, jax.random.PRNGKey(seed),
      temperature=temperature)))) for seed in range(seeds)]


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  text = text_files.read_text_file(FLAGS.local_path)
  splits = text_files.canonical_split(text)
  vocabulary = set(sample_metrics.words(splits['train']))
  n, seeds, temp = FLAGS.num_chars, FLAGS.seeds, FLAGS.temperature
  validation = splits['validation']
  starts = np.linspace(0, len(validation) - n, seeds).astype(int)
  groups = {'validation text': [validation[s:s + n] for s in starts]}
  field = field_samples(FLAGS.field_workdir, FLAGS.prompt, n, seeds, temp, FLAGS.context)
  for name, samples in field.items():
    groups[f'field LM, {name}'] = samples
  if FLAGS.landauer_workdir:
    groups['Landauer LM, plain sampling'] = landauer_samples(
        FLAGS.landauer_workdir, FLAGS.prompt, n, seeds, temp)
  rows = []
  print(f'{seeds} samples of {n} characters each, temperature {temp:g}; mean ± sd\n\n'
        '| source | distinct 4-grams | distinct 8-grams | longest repeat (chars) | '
        'known words |\n|---|---:|---:|---:|---:|')
  for name, samples in groups.items():
    row = {'source': name, **sample_metrics.summarize(samples, vocabulary)}
    rows.append(row)
    print(f"| {name} | {row['distinct_4']:.3f} ± {row['distinct_4_std']:.3f} | "
          f"{row['distinct_8']:.3f} ± {row['distinct_8_std']:.3f} | "
          f"{row['longest_repeat']:.0f} ± {row['longest_repeat_std']:.0f} | "
          f"{row['word_rate']:.3f} ± {row['word_rate_std']:.3f} |", flush=True)
  reports.write_json(FLAGS.output_json, {
      'temperature': temp, 'num_chars': n, 'seeds': seeds, 'prompt': FLAGS.prompt,
      'field_workdir': FLAGS.field_workdir, 'context': FLAGS.context, 'rows': rows,
      'samples': {k: [s[:300] for s in v] for k, v in groups.items()}})


if __name__ == '__main__':
  define_flags()
  common.run(main)
