"""The model-free core that both language models share.

Nothing in this subpackage imports a model (not `landauerjax.models`, not
`fieldjax.model`): `fieldjax` uses it without loading the Landauer cells.

Training runs:
* `run`: one run in a workdir (lock, resume checks, finished-run exit), each model's hooks.
* `loop`: the training loop both trainers run (steps, read-back, guards, evaluation, saves).
* `preemption`: SIGTERM or Ctrl-C as a clean stop after a saved step; processes agree.
* `checkpoints`: orbax checkpoints with a sha256 manifest, finite checks, fallback.
* `exports`: parameters as plain files (safetensors + config.json), written whole, verified.
* `guards`: stopping a run that went non-finite or diverged, naming the kept checkpoint.
* `workdir`: one writer per workdir (a lock), and the run record resume checks.
* `metrics`: WORKDIR/metrics.jsonl, append-only and crash-safe, and TensorBoard.
* `errors`: the exception types a command line turns into one line and an exit code.
* `sharding`: the device mesh, batches sharded over it, parameters replicated.
* `distributed`: many processes (hosts) as one run, on jax.distributed.
* `compile_cache`: JAX's persistent compilation cache in a directory.

Data:
* `text_files`: local corpus files, their checks, hashes and 90/10 split (no TFDS).
* `text_builders`: the TFDS builders of the corpora.
* `text_sources`: reading whole splits, or documents one at a time.
* `tokenizers`: characters, UTF-8 bytes, SentencePiece, and their JSON.
* `windows`: random training windows, batch keys, evaluation layouts.
* `streams`: streamed token batches on grain (tokenize, pack, batch), resumable.

Measurements and reports:
* `timing`: warm timings of calls, steps and compilations; the machine and device.
* `memory`: peak device memory (or XLA's estimate) and peak resident memory.
* `fresh_process`: one measurement in a new Python process, its result back as JSON.
* `sample_metrics`: diversity and repetition of text samples.
* `reports`: JSON results, Markdown tables, the marked sections of docs/, seed statistics.
"""
