"""Is an error worth retrying? Configuration and data errors are not: a retry fails the same way, later.

:func:`is_transient` looks through dlt's wrappers (pipeline step, resource extraction ...) the way
:func:`pipelines.runner.describe_error` does, and decides on the first error in the chain it recognises:

* an error that says so itself: a class attribute ``transient = True | False`` (plugins mark their own errors,
  e.g. an expired token ``False``, a used-up retry budget ``True``);
* permanent: the project's setting errors (:class:`marketing_dwh.settings.SettingError`, target and plugin errors),
  dlt's configuration errors (``ConfigFieldMissingException`` ...) and terminal errors, ``ValueError`` /
  ``LookupError`` / ``TypeError`` (bad input, a bug), a missing file or folder, a permission denied;
* transient: dlt's transient errors, network errors and timeouts (``OSError``, ``requests``, ``httpx``, Google API
  5xx / 429), a busy warehouse or lock.

An error none of these name is treated as transient (retried), as Airflow would.
"""

from __future__ import annotations

from collections.abc import Iterator

from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.exceptions import TerminalException, TransientException

from marketing_dwh.registry import PluginLoadError, UnknownSourceError
from marketing_dwh.settings import SettingError
from pipelines.locks import LockTimeout
from pipelines.targets import TargetConfigError

PERMANENT: tuple[type[BaseException], ...] = (
    SettingError,
    TargetConfigError,
    PluginLoadError,
    UnknownSourceError,
    ConfigurationException,
    TerminalException,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    NotImplementedError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
TRANSIENT: tuple[type[BaseException], ...] = (TransientException, LockTimeout, TimeoutError, ConnectionError, OSError)


def _optional_transient() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    try:
        import httpx

        found.append(httpx.TransportError)
    except ImportError:  # pragma: no cover - httpx is a dependency of the Airflow extra only
        pass
    try:
        from google.api_core import exceptions as gexc

        found += [gexc.ServerError, gexc.TooManyRequests, gexc.RetryError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(found)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors below it (dlt's ``exception`` attribute, ``__cause__``, ``__context__``), outermost
    first, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (getattr(current, "exception", None), current.__cause__, current.__context__) if e]


def is_transient(exc: BaseException) -> bool:
    """True when retrying ``exc`` later may succeed (see the module docstring)."""
    optional = _optional_transient()
    for error in chain(exc):
        declared = getattr(type(error), "transient", None)
        if isinstance(declared, bool):
            return declared
        if isinstance(error, PERMANENT):  # before TRANSIENT: FileNotFoundError is an OSError
            return False
        if isinstance(error, TRANSIENT + optional):
            return True
    return True
