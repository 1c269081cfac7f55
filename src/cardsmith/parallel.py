"""Run a function over chunks of work, in this process or in worker processes.

A service the render stage calls: the results are the same either way, in order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from cardsmith import lifeline

if TYPE_CHECKING:  # multiprocessing is imported only when workers are used
    import multiprocessing.context

Item = TypeVar("Item")
Result = TypeVar("Result")
Progress = Callable[[int, int], None]

# Below this many items, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 800
CHUNK_SIZE = 50
# Modules the workers' server process loads once, so each worker starts ready.
# lifeline ends the server and its workers with the build, even after kill -9.
PRELOAD = ["cardsmith.lifeline", "cardsmith.render_all"]


def default_jobs() -> int:
    """Worker processes: one per usable core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_chunks(
    function: Callable[[Sequence[Item]], list[Result]],
    items: Sequence[Item],
    jobs: int | None,
    progress: Callable[[int], None] | None = None,
) -> list[Result]:
    """function over chunks of items, serially or spread over processes; results in order.

    function must be a module-level function (workers import it by name). With
    jobs None, small inputs stay in this process.
    """
    workers = default_jobs() if jobs is None else jobs
    serial = workers <= 1 or (jobs is None and len(items) < PARALLEL_THRESHOLD)
    # Chunks of at most CHUNK_SIZE, as many as a multiple of the workers, so that no
    # worker is left with one chunk more to do after the others are done.
    count = -(-len(items) // CHUNK_SIZE)
    if not serial:
        count = -(-count // workers) * workers
    size = max(1, -(-len(items) // max(1, count)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    out: list[Result] = []
    with contextlib.ExitStack() as stack:
        mapper: Callable[..., Iterable[list[Result]]] = map
        if not serial and chunks:
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(
                max_workers=min(workers, len(chunks)),
                mp_context=_context(),
                initializer=lifeline.watch,
                initargs=(os.getpid(),),
            )
            mapper = stack.enter_context(pool).map
        for results in mapper(function, chunks):
            out.extend(results)
            if progress:
                progress(len(out))
    return out


def prestart(jobs: int | None) -> None:
    """Start the workers' server process now, if this build may use workers.

    It imports the renderer and builds it (~0.2 s) while this process loads the sources,
    instead of after. Unused, it costs that much CPU on another core, and it ends with
    the build (lifeline). Only for forkserver: spawn starts nothing ahead.
    """
    workers = default_jobs() if jobs is None else jobs
    context = _context()
    if workers > 1 and context.get_start_method() == "forkserver":
        import multiprocessing.forkserver

        multiprocessing.forkserver.ensure_running()


def _context() -> multiprocessing.context.BaseContext:
    """Workers start from a small server process, not as copies of this (large) one.

    A forked copy of the build process would carry every parsed card in its memory;
    forkserver (POSIX) or spawn starts them with only cardsmith's modules loaded.
    """
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")
