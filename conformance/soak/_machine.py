"""Facts about this machine and process that a soak's figures depend on: CPU, load, resident memory."""

from __future__ import annotations

import os
import platform
import sys

from .._host import cpu_name


def machine() -> dict[str, str]:
    """The facts about this machine and interpreter that the figures depend on, with its load average now."""
    cpu = cpu_name()
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        load = "n/a"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "load": load,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }


def peak_rss() -> int | None:
    """The process's peak resident set size in bytes, if the platform says."""
    if sys.platform == "win32":
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def current_rss() -> int | None:
    """The process's resident set size in bytes now (Linux only; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")
