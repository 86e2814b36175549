"""Ctrl-C while the main thread waits in the library.

Python runs its SIGINT handler (raising KeyboardInterrupt) only between
bytecodes, so a main thread blocked in a library call (a long prefill, a
Classify or BatchGenerate call) would notice Ctrl-C only when the call
returns.  While such a call runs, this module points Python's signal
wake-up fd (signal.set_wakeup_fd) at a pipe; Python's C-level handler writes
the signal number there at once, and a watcher thread triggers the library
cancel tokens of the operations the main thread is waiting on.  The library
then ends them within one decode step, the call returns, and Python raises
KeyboardInterrupt as usual.

It steps aside when it cannot help or would interfere: off the main thread,
when SIGINT has a handler other than Python's default one, or when someone
else (asyncio, for one) already owns the wake-up fd.
"""
from __future__ import annotations

import os
import select
import signal
import threading
from typing import Optional, Set

from ._lib import lib

_lock = threading.Lock()
_active: Set[int] = set()  # inf_cancel pointers to trigger on SIGINT
_pipe: Optional[tuple] = None
_installed = False  # our pipe is the wake-up fd now


def _watch_loop(rfd: int) -> None:
    # The byte is read under _lock, and unwatch() drains the pipe under the
    # same lock when the last operation stops being watched: a Ctrl-C whose
    # byte this thread had not read yet when its operation ended (a busy
    # machine delays this thread) then cannot cancel the NEXT operation.
    while True:
        try:
            select.select([rfd], [], [])
        except InterruptedError:
            continue
        except (OSError, ValueError):
            return
        with _lock:
            try:
                data = os.read(rfd, 64)
            except (BlockingIOError, InterruptedError):
                continue  # drained by unwatch() meanwhile
            except OSError:
                return
            if not data:
                return
            if signal.SIGINT in data:
                for c in _active:
                    lib.inf_cancel_trigger(c)


def _drain_locked() -> None:
    """Drops unread signal bytes (under _lock)."""
    if _pipe is None:
        return
    while True:
        try:
            if not os.read(_pipe[0], 64):
                return
        except OSError:  # BlockingIOError: empty
            return


def _ensure_pipe() -> tuple:
    global _pipe
    if _pipe is None:
        r, w = os.pipe()
        os.set_blocking(w, False)
        os.set_blocking(r, False)  # the watcher waits in select()
        t = threading.Thread(target=_watch_loop, args=(r,), name="inference-sigint",
                             daemon=True)
        t.start()
        _pipe = (r, w)
    return _pipe


def watch(cancel: int) -> bool:
    """Triggers `cancel` (an inf_cancel pointer) on Ctrl-C until unwatch().
    Returns False (and does nothing) where it cannot: not on the main
    thread, SIGINT not Python's default handler, wake-up fd taken."""
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    with _lock:
        if not _installed:
            _, w = _ensure_pipe()
            try:
                old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            except (ValueError, OSError):
                return False
            if old not in (-1, w):  # someone else's: give it back
                signal.set_wakeup_fd(old)
                return False
            _installed = True
        _active.add(cancel)
    return True


def unwatch(cancel: int) -> None:
    """Stops watching `cancel`; gives the wake-up fd back when nothing is
    watched (must then be on the main thread, as watch() was)."""
    global _installed
    with _lock:
        _active.discard(cancel)
        if _active:
            return
        _drain_locked()
        if not _installed:
            return
        if threading.current_thread() is threading.main_thread():
            try:
                old = signal.set_wakeup_fd(-1)
                if _pipe is not None and old not in (-1, _pipe[1]):
                    signal.set_wakeup_fd(old)  # someone else's since: keep it
            except (ValueError, OSError):
                pass
            _installed = False
