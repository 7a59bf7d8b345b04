"""A dbt process that parses the project ahead and then runs one dlt dbt-runner command with that parse.

Started by :func:`pipelines.dbt_runner.parse_ahead` while the sources run (``python -m pipelines.dbt_worker
<package path> <dbt parse argv as JSON>``): it imports dbt and parses the project (``dbt parse``, which also saves
dbt's ``partial_parse.msgpack``), then waits for the script dlt's dbt runner would run in a new process
(``DBTPackageRunner._run_dbt_command``) on stdin, and runs it here with dbt's programmatic runner given the parsed
manifest (``dbtRunner(manifest=...)``, dbt's documented way to skip parsing): the command's results and errors reach
dlt's runner in the parent exactly as from its own process. What this saves is the start of a new process with
dbt's imports (3-4 s: dbt builds its classes at import) and reading the saved manifest. Stdin closed without a
script: nothing to run (the build was not wanted, or its vars differ from the parse's).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys


def main(package_path: str, parse_argv: list[str]) -> int:
    import dlt.helpers.dbt.dbt_utils as dlt_dbt
    from dbt.cli.main import dbtRunner

    os.chdir(package_path)
    with contextlib.redirect_stdout(io.StringIO()):  # nobody reads stdout yet; a failed parse is the build's to report
        parsed = dbtRunner().invoke(parse_argv)
    script = sys.stdin.read()
    if not script:
        return 0 if parsed.success else 1
    if parsed.success:  # the runner dlt's script creates (dlt_dbt.run_dbt_command) starts from this manifest
        dlt_dbt.dbtRunner = functools.partial(dbtRunner, manifest=parsed.result)  # type: ignore[misc]
    exec(compile(script, "<dlt dbt runner script>", "exec"), {"__name__": "__main__"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], json.loads(sys.argv[2])))
