"""Resolve the torch device and thread count once per process."""

from __future__ import annotations

import contextlib
import os

from core.errors import ConfigError

_threads_set = False


def resolve_device(preference: str = "auto") -> str:
    import torch

    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("OPMON_DEVICE=cuda but torch sees no CUDA device (is this the CPU wheel?)")
    if preference not in ("cpu", "cuda"):
        raise ConfigError(f"OPMON_DEVICE must be auto, cpu or cuda, not {preference!r}")
    return preference


def configure_threads(threads: int | None) -> int:
    """Set torch's intra-op threads: the setting, else the CPUs this process may use (at most 8).

    More threads than cores only adds contention; small matrices stop scaling past ~8.
    """
    global _threads_set
    import torch

    if threads is None:
        try:
            available = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            available = os.cpu_count() or 1
        threads = max(1, min(available, 8))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if not _threads_set:
        _threads_set = True
        # One inter-op thread: we run one model call at a time. Fails harmlessly once torch has started.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)
    return threads
