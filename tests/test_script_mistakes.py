"""The scripts under scripts/ answer a user's mistake with one line and exit 2.

Every script runs as `python -m scripts.NAME` runs it (`runpy`, as `__main__`), all of
them in one driver process (`entry_point_driver`: one JAX start-up, not one per
script): an unknown flag (ours or JAX's), a bad value of a JAX flag, and for the
scripts that read a corpus, a file that is not there.
"""

from __future__ import annotations

import pytest

from entry_point_driver import assert_one_line_error
import entry_point_driver

SCRIPTS = ('benchmark_device', 'benchmark_input', 'benchmark_landauer', 'field_results',
           'import_torch_checkpoint', 'landauer_results', 'ngram_baseline',
           'transformer_baseline', 'ppm_anchor', 'hashed_context_baseline', 'sample_quality',
           'field_best_results')
MISSING_CORPUS = (('ngram_baseline', '--local_path'), ('hashed_context_baseline', '--local_path'),
                  ('ppm_anchor', '--local_path'))


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
  yield from entry_point_driver.driver(tmp_path_factory.mktemp('driver') / 'stderr.txt')


@pytest.fixture(scope='module')
def missing(tmp_path_factory):
  return str(tmp_path_factory.mktemp('corpus') / 'nope.txt')


@pytest.mark.parametrize('script', SCRIPTS)
def test_unknown_flag_is_one_line(drive, script):
  unknown, unknown_jax, bad_jax = drive(f'scripts.{script}', [
      ['--no_such_flag=1'], ['--jax_no_such_flag=1'], ['--jax_debug_nans=maybe']])
  assert_one_line_error(unknown, 'Unknown command line flag')
  assert_one_line_error(unknown_jax, "Unknown command line flag 'jax_no_such_flag'")
  assert_one_line_error(bad_jax, '--jax_debug_nans=maybe')


@pytest.mark.parametrize('script, flag', MISSING_CORPUS)
def test_missing_corpus_is_one_line(drive, missing, script, flag):
  [result] = drive(f'scripts.{script}', [[f'{flag}={missing}']])
  assert_one_line_error(result, 'not found')


def test_field_best_results_earlier_mistakes_are_one_line(drive, missing):
  no_file, no_json, unknown_row = drive('scripts.field_best_results', [
      ['--earlier_rows=levy'], [f'--earlier={missing}', '--earlier_rows=levy'],
      ['--earlier_rows=no_such_row']])
  assert_one_line_error(no_file, 'needs --earlier')
  assert_one_line_error(no_json, 'not a readable collection')
  assert_one_line_error(unknown_row, 'no_such_row')
