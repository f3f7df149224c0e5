"""Trajectory statistics (used by the trajectory demo): they must tell a loop from a non-loop."""

import numpy as np

from landauerjax import trajectory


def test_autocorrelation_finds_a_periodic_state():
  t = np.arange(600)
  loop = np.stack([np.cos(2 * np.pi * t / 25), np.sin(2 * np.pi * t / 25)], axis=1)
  autocorr = trajectory.autocorrelation(loop, 100)
  assert autocorr[24] > 0.99  # Lag 25 (index 24): back where it started.
  noise = np.random.default_rng(0).normal(size=(600, 16))
  assert np.abs(trajectory.autocorrelation(noise, 100)[20:]).max() < 0.3


def test_text_period_and_repeats():
  period, match = trajectory.best_period('the shall ' * 30)
  assert period == 10 and match == 1.0
  _, match = trajectory.best_period('To be, or not to be, that is the question')
  assert match < 0.5
  assert trajectory.longest_repeated_substring('abcXabcY') == 'abc'


def test_pca_and_complex_states():
  states = np.random.default_rng(1).normal(size=(50, 3)) * [10.0, 1.0, 0.1]
  projection, variance = trajectory.pca_2d(states)
  assert projection.shape == (50, 2) and variance[0] > 0.9
  complex_states = np.ones((4, 3)) + 2j * np.ones((4, 3))
  assert trajectory.real_states(complex_states).shape == (4, 6)
