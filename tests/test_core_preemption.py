"""landauerjax.core.preemption and the save's deferral: real signals, sent to this process."""

from __future__ import annotations

import os
import signal

import pytest

from landauerjax.core import checkpoints
from landauerjax.core import preemption


@pytest.fixture
def recording_handlers():
  """SIGTERM and SIGINT handlers that record what reaches them (restored afterwards)."""
  reached = []
  previous = {s: signal.signal(s, lambda signum, frame: reached.append(signum))
              for s in preemption.SIGNALS}
  yield reached
  for s, handler in previous.items():
    signal.signal(s, handler)


@pytest.mark.parametrize('signum', preemption.SIGNALS)
def test_the_first_signal_only_asks_for_a_stop(signum, recording_handlers):
  before = signal.getsignal(signum)
  with preemption.StopSignals() as stop:
    assert not stop.received and not stop.agreed(check_all=False)
    os.kill(os.getpid(), signum)  # Delivered before os.kill returns to Python code.
    assert stop.received == signal.Signals(signum).name
    assert stop.agreed(check_all=False) and stop.agreed(check_all=True)  # One process.
  assert signal.getsignal(signum) is before and recording_handlers == []


def test_a_second_signal_goes_to_the_handler_from_before(recording_handlers):
  with preemption.StopSignals() as stop:
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)
    assert recording_handlers == [signal.SIGTERM]
    assert stop.received == 'SIGTERM'
    os.kill(os.getpid(), signal.SIGTERM)  # The handlers from before are back already.
  assert recording_handlers == [signal.SIGTERM] * 2


def test_a_second_ctrl_c_raises_keyboard_interrupt():
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
  with pytest.raises(KeyboardInterrupt):
    with preemption.StopSignals():
      os.kill(os.getpid(), signal.SIGINT)
      os.kill(os.getpid(), signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_save_holds_both_signals_back_then_delivers_them_in_order(recording_handlers):
  with checkpoints.deferred_interrupts():
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    assert recording_handlers == []  # Held while the save runs.
  assert recording_handlers == [signal.SIGTERM, signal.SIGINT]


def test_the_message_names_the_step_the_checkpoint_and_the_way_on():
  error = preemption.Preempted(4, 'SIGTERM', '/w/checkpoints/4')
  assert error.exit_code == 75 and '\n' not in str(error)
  assert str(error) == ('stopped by SIGTERM after step 4, whose checkpoint is saved and '
                        'verified in /w/checkpoints/4; run the same command again to resume.')
