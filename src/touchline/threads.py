"""Background threads that show their names to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Callable

__all__ = ["named_thread"]

_PR_SET_NAME = 15


def _set_native_name(name: str) -> None:
    # Linux keeps 15 bytes of a thread's name; ``top -H``, ``ps -L`` and /proc/<pid>/task/*/comm show
    # it, which is how bench/ingest.py splits the server's CPU time between its threads. Python sets it
    # itself only from 3.14 on.
    if not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def named_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """A daemon thread called ``name`` in Python and, on Linux, in the operating system too."""

    def run() -> None:
        _set_native_name(name)
        target()

    return threading.Thread(target=run, name=name, daemon=True)
