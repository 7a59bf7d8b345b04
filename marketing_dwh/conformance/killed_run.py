"""``python -m marketing_dwh.conformance.killed_run <mdw arguments>``: ``mdw`` that kills itself (SIGKILL) when its
``MDW_KILL_AT_JOB``-th load job (default 1) of the warehouse schema ``MDW_KILL_SCHEMA`` starts; dlt's own tables'
jobs do not count. No cleanup runs, exactly like the OOM killer or a lost machine. Used by the conformance
suite's crash check (``mdw check-plugin``)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from dlt.common.destination.client import RunnableLoadJob


def kill_at_job(schema: str, nth: int) -> None:
    """Make the process kill itself when the ``nth`` warehouse load job of ``schema``'s data tables starts."""
    started = 0
    lock = threading.Lock()
    run_managed = RunnableLoadJob.run_managed

    def killing(job: RunnableLoadJob, job_client: Any, *args: Any) -> None:
        nonlocal started
        counted = (
            getattr(job_client.config, "destination_name", None) == "warehouse"
            and job_client.schema.name == schema
            and not job.load_table_name.startswith("_dlt")
        )
        if counted:
            with lock:
                started += 1
                if started >= nth:
                    os.kill(os.getpid(), signal.SIGKILL)
        run_managed(job, job_client, *args)

    RunnableLoadJob.run_managed = killing  # type: ignore[method-assign]


def main() -> int:
    kill_at_job(os.environ["MDW_KILL_SCHEMA"], int(os.environ.get("MDW_KILL_AT_JOB", "1")))
    from pipelines.cli import main as mdw

    return mdw(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
