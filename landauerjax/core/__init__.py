"""The model-free core that both language models share.

Nothing in this subpackage imports a model (not `landauerjax.models`, not
`fieldjax.model`): `fieldjax` uses it without loading the Landauer cells.

* `errors`: the exception types a command line turns into one line and an exit code.
* `checkpoints`: orbax checkpoints with a sha256 manifest, finite checks, fallback.
* `exports`: parameters as plain files (safetensors + config.json), written whole, verified.
* `guards`: stopping a run that went non-finite or diverged, naming the kept checkpoint.
* `workdir`: one writer per workdir (a lock), and the run record resume checks.
* `metrics`: WORKDIR/metrics.jsonl, append-only and crash-safe.
"""
