"""SIGTERM (a CI job's timeout or cancel, `timeout`) and SIGHUP (a closed terminal or ssh session) stop factcheck as
Ctrl-C does, so that what it was writing is finished or cleaned up rather than left half-made."""

from __future__ import annotations

import os
import signal
import threading
from typing import Callable


def stop_as_ctrl_c(on_signal: Callable[[str], bool] = lambda name: True) -> Callable[[], None]:
    """Make SIGTERM and SIGHUP raise KeyboardInterrupt("stopped by SIGTERM"), with the signal's number as its
    `signal_number`, where nothing else handles them and in the main thread only. `on_signal(name)` is told first and
    says whether to raise (False: the caller finishes what it is doing). A second signal ends the process at once, and
    a process forked after this dies of the signal as it would without factcheck. Returns what puts the defaults
    back (only where the handler is still factcheck's)."""
    installed: list[tuple[int, Callable]] = []
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    for name in ("SIGTERM", "SIGHUP"):  # Windows has no SIGHUP
        number = getattr(signal, name, None)
        if number is None or signal.getsignal(number) is not signal.SIG_DFL:
            continue

        def stop(signal_number, frame):
            signal.signal(signal_number, signal.SIG_DFL)  # a second one ends the process at once
            if on_signal(signal.Signals(signal_number).name):
                interrupt = KeyboardInterrupt(f"stopped by {signal.Signals(signal_number).name}")
                interrupt.signal_number = signal_number
                raise interrupt

        signal.signal(number, stop)
        installed.append((number, stop))

    def back_to_the_defaults() -> None:
        for number, handler in installed:
            if signal.getsignal(number) is handler:
                signal.signal(number, signal.SIG_DFL)

    if installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=back_to_the_defaults)
    return back_to_the_defaults
