r"""Is the streamed input ever the bottleneck? Loader tokens/s against the field LM's step.

  python -m scripts.benchmark_input --local_path=../shared/data/tiny_shakespeare.txt
  python -m scripts.benchmark_input --quick     # smoke run; writes nothing

Streams the training split, cut into documents at blank lines, through
`landauerjax.core.streams.token_batches` (grain: tokenize, pack, batch) with a
character and a SentencePiece tokenizer and 1 or 2 reading threads, and times
the warm loader alone (`streams.tokens_per_sec`, batches 32 x 129), beside the
field LM's warm Hebbian step at `tiny` and `small` (`fieldjax.profiling.
profile_cell`). Writes a table between `<!-- benchmark_input:start/end -->` in
--output_md and the numbers to --output_json, unless --quick.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags

from experiments import common
from fieldjax import model as field_model
from fieldjax import profiling
from landauerjax.core import reports
from landauerjax.core import streams
from landauerjax.core import text_files
from landauerjax.core import timing
from landauerjax.core import tokenizers

_LOCAL_PATH = flags.DEFINE_string('local_path', '../shared/data/tiny_shakespeare.txt',
                                  'A UTF-8 text file; its first 90% is streamed.')
_QUICK = flags.DEFINE_bool('quick', False, 'Smoke run: few batches, tiny model sizes.')
_OUTPUT_MD = flags.DEFINE_string('output_md', 'docs/BENCHMARKS.md',
                                 "Markdown file whose marked section is replaced ('' = none).")
_OUTPUT_JSON = flags.DEFINE_string('output_json', 'docs/benchmarks_input.json',
                                   "Raw results as JSON ('' = none).")
BATCH, SEQ = 32, 128


def run(quick: bool) -> dict[str, Any]:
  text = text_files.canonical_split(text_files.read_text_file(_LOCAL_PATH.value))['train']
  if quick:
    text = text[:100_000]
  source = [{'text': doc} for doc in text.split('\n\n') if doc]
  pieces = 64 if quick else 8192
  with tempfile.TemporaryDirectory() as cache:
    tokenizer_of = {
        'char': tokenizers.CharVocab.from_texts(text),
        f'sentencepiece {pieces}': tokenizers.make_tokenizer(
            'sentencepiece', [text], vocab_size=pieces, cache_dir=cache,
            data_id='benchmark_input')}
  loader = [{'tokenizer': name, 'threads': threads, 'tokens_per_s': streams.tokens_per_sec(
      streams.batches_with_state(streams.token_batches(source, tok, BATCH, SEQ,
                                                       read_threads=threads)),
      5 if quick else 200)} for name, tok in tokenizer_of.items() for threads in (1, 2)]
  steps = []
  for size in ('tiny', 'small'):
    overrides = {'embed_dim': 16, 'lattice_dim': 256, 'lags': 4} if quick else {}
    cfg = field_model.config_for_size(size, 8192, **overrides)
    row = profiling.profile_cell(cfg, BATCH, SEQ, repeats=1 if quick else 3, matmul_size=256)
    steps.append({'size': size, 'tokens_per_s': row['tokens_per_sec']})
  return {'machine': timing.machine_info(), 'quick': quick, 'documents': len(source),
          'loader': loader, 'field_step': steps}


def markdown(results: dict[str, Any]) -> str:
  m = results['machine']
  lines = [f"Measured {m['date_utc']} on {m['cpu']} ({m['cpus_available']} cores, load "
           f"{m['load_average_at_start']}); {results['documents']:,} documents, batches "
           f'{BATCH} x {SEQ + 1}.' + (' QUICK RUN.' if results['quick'] else ''), '']
  lines += reports.markdown_table(['what', 'tokens/s'], [
      *([f"loader, {r['tokenizer']} tokenizer, {r['threads']} thread(s)",
         f"{r['tokens_per_s']:,.0f}"] for r in results['loader']),
      *([f"field LM `{r['size']}` Hebbian step (for comparison)", f"{r['tokens_per_s']:,.0f}"]
        for r in results['field_step'])])
  return '\n'.join(lines[:-1])


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  results = run(_QUICK.value)
  table = markdown(results)
  print(table)
  if not _QUICK.value:
    reports.write_benchmark(results, table, json_path=_OUTPUT_JSON.value,
                            md_path=_OUTPUT_MD.value, section='benchmark_input')


if __name__ == '__main__':
  common.run(main)
