"""Checked settings, the dlt way: a configspec per source (and for the dashboard and Airflow), checked before anything
runs, all resolved by :func:`resolve_settings`.

A source declares its settings as a dlt configspec that subclasses :class:`SourceConfiguration` and passes it to
``@dlt.source(spec=...)``. dlt resolves it from ``.dlt/*.toml``, the environment and the call's arguments, coercing
each value to its declared type, and then runs the checks the spec declares:

    @configspec
    class WeatherConfiguration(SourceConfiguration):
        SECTION: ClassVar[str] = "sources.weather"
        MINIMUM: ClassVar[dict[str, float]] = {"days": 1}
        ONE_OR_MANY: ClassVar[tuple[str, ...]] = ("stations",)

        days: int = 7
        stations: Any | None = None  # one station id or a list of them

That happens whenever the source is called (an Airflow task, a test) and, through :func:`resolve_source_settings`,
when a command starts, so a wrong value stops it before any extract. Either way it is a :class:`SettingError`: one
line naming the setting, the value and what is allowed. Sources without such a spec get dlt's type coercion only.

The framework's own settings use the same base, :class:`CheckedConfiguration`, and :func:`resolve_settings` under
their section (``mdw.airflow``; the dashboard's ``mdw.targets.<name>``), so they read ``.dlt/*.toml`` and
``MDW__AIRFLOW__RETRIES``-style environment variables, and a wrong value is the same one line.
"""

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, ClassVar, TypeVar

from dlt.common.configuration import configspec, inject_section, resolve_configuration
from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigValueCannotBeCoercedException
from dlt.common.configuration.specs import BaseConfiguration, ConfigSectionContext
from dlt.common.configuration.specs.base_configuration import extract_inner_hint, is_secret_hint


class SettingError(ValueError):
    """A setting has a value that cannot be used; the message names the setting, the value and what is allowed."""

    def __init__(self, setting: str, value: Any, allowed: str) -> None:
        self.setting, self.value, self.allowed = setting, value, allowed
        super().__init__(f"{setting}={value!r} is not allowed: {allowed}")


class SettingMissingError(SettingError):
    """A required setting is not set anywhere."""

    def __init__(self, setting: str, where: str) -> None:
        self.setting, self.value, self.allowed = setting, None, where
        ValueError.__init__(self, f"{setting} is not set: {where}")


class _Secret:
    def __repr__(self) -> str:
        return "<secret, not shown>"


def env_name(setting: str) -> str:
    """The environment variable of a setting: ``sources.ga4.page_size`` -> ``SOURCES__GA4__PAGE_SIZE``."""
    return setting.upper().replace(".", "__")


def kind_of(hint: Any) -> str:
    """What a value of this type hint is, in words (for messages)."""
    inner = extract_inner_hint(hint)
    if inner is bool:
        return "true or false"
    if inner is int:
        return "a whole number"
    if inner is float:
        return "a number"
    if inner is str:
        return "text"
    if isinstance(inner, type) and issubclass(inner, list | tuple | set):
        return 'a list, e.g. ["a", "b"]'
    if isinstance(inner, type) and issubclass(inner, Mapping):
        return 'a table (in an environment variable as JSON, e.g. {"key": "value"})'
    return f"a value of type {getattr(inner, '__name__', inner)}"


def one_or_many(value: Any) -> list[str] | None:
    """One value or a list of them as a list of text (a JSON list in text, as environment variables carry it, is
    a list); None when it is neither."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]  # e.g. a glob pattern with a character class
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    return None


@configspec
class CheckedConfiguration(BaseConfiguration):
    """Base of a checked settings spec. Subclasses declare fields and what is allowed:

    ``SECTION``: the settings' section, naming them in messages (``sources.<name>``, ``mdw.airflow``); ``MINIMUM``:
    numbers and their smallest value; ``POSITIVE``: numbers above 0; ``CHOICES``: text (or each item of a list) from
    a fixed set; ``PATTERNS``: text (or each item) matching a regular expression, with what it is in words;
    ``ONE_OR_MANY``: list settings that also take one value (declare them ``Any | None``; they arrive as lists);
    ``DATES``: ISO dates; ``ALLOWED``: what is allowed in words, where the declared checks do not say it.
    ``check()`` adds checks of several settings together or of values only a library can judge.
    """

    SECTION: ClassVar[str] = ""
    MINIMUM: ClassVar[Mapping[str, float]] = {}
    POSITIVE: ClassVar[tuple[str, ...]] = ()
    CHOICES: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    PATTERNS: ClassVar[Mapping[str, tuple[str, str]]] = {}
    ONE_OR_MANY: ClassVar[tuple[str, ...]] = ()
    DATES: ClassVar[tuple[str, ...]] = ()
    ALLOWED: ClassVar[Mapping[str, str]] = {}

    def on_resolved(self) -> None:
        self._check_declared()
        self.check()

    def on_partial(self) -> None:
        """Some required setting is missing (a sandbox may supply it): the ones present are checked all the same."""
        self.on_resolved()

    def check(self) -> None:
        """Checks beyond the declared ones; raise ``self.invalid(name)``."""

    def setting(self, name: str) -> str:
        """The full name of setting ``name`` (the section this instance was resolved under)."""
        return f"{self.SECTION}.{name}" if self.SECTION else name

    @classmethod
    def allowed(cls, name: str) -> str:
        """What ``name`` allows, in words."""
        if name in cls.ALLOWED:
            return cls.ALLOWED[name]
        many = name in cls.ONE_OR_MANY
        if name in cls.CHOICES:
            shown = ", ".join(repr(c) for c in cls.CHOICES[name])
            return f"use any of {shown} (one or a list)" if many else f"use one of {shown}"
        if name in cls.PATTERNS:
            return f"use {cls.PATTERNS[name][1]}" + (" or a list of them" if many else "")
        if name in cls.DATES:
            return "use a date YYYY-MM-DD"
        if many:
            return "use one value or a list of them"
        text = "use " + kind_of(cls.get_resolvable_fields().get(name, Any))
        if name in cls.MINIMUM:
            text += f" >= {cls.MINIMUM[name]:g}"
        if name in cls.POSITIVE:
            text += " > 0"
        return text

    def invalid(self, name: str, value: Any = None, allowed: str | None = None) -> SettingError:
        """The error for setting ``name`` (its current value unless given)."""
        shown = getattr(self, name) if value is None else value
        return SettingError(self.setting(name), shown, allowed or self.allowed(name))

    def _check_declared(self) -> None:
        for name, hint in self.get_resolvable_fields().items():
            value = getattr(self, name)
            if value is None or is_secret_hint(hint):
                continue
            items = [value]
            if name in self.ONE_OR_MANY:
                items = one_or_many(value)
                if items is None:
                    raise self.invalid(name, value)
                setattr(self, name, items)  # the source receives a list
            for item in items:
                if not self._fits(name, item, extract_inner_hint(hint)):
                    raise self.invalid(name, value)

    def _fits(self, name: str, item: Any, inner: Any) -> bool:
        if inner in (int, float):  # values given as arguments are not coerced by dlt
            if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
                return False
            if inner is int and not isinstance(item, int):
                return False
            if item < self.MINIMUM.get(name, -math.inf) or (name in self.POSITIVE and item <= 0):
                return False
        if name in self.ONE_OR_MANY and not item.strip():
            return False
        if name in self.CHOICES and item not in self.CHOICES[name]:
            return False
        if name in self.PATTERNS and not (isinstance(item, str) and re.fullmatch(self.PATTERNS[name][0], item)):
            return False
        if name in self.DATES:
            try:
                date.fromisoformat(item)
            except (TypeError, ValueError):
                return False
        return True


@configspec
class SourceConfiguration(CheckedConfiguration):
    """Base of a source's settings spec: fields are the source's arguments, ``SECTION`` is ``sources.<name>``."""


TConfig = TypeVar("TConfig", bound=BaseConfiguration)


def resolve_settings(
    spec: type[TConfig],
    section: str | None = None,
    explicit: Mapping[str, Any] | None = None,
    *,
    partial: bool = False,
    context: ConfigSectionContext | None = None,
) -> TConfig:
    """Resolve the configspec ``spec`` with dlt (``.dlt/*.toml``, the environment, ``explicit`` values) and check it.

    ``section`` (dotted, default ``spec.SECTION``) is where its settings live and what messages call them;
    ``context``: look them up in this dlt section context instead (a source's); ``partial``: missing required
    settings are allowed. A value dlt cannot read as the declared type, or that the spec's checks refuse, is a
    :class:`SettingError`; a missing required one a :class:`SettingMissingError`; both one line.
    """
    section = section if section is not None else getattr(spec, "SECTION", "")
    config = spec()
    if isinstance(config, CheckedConfiguration) and section != config.SECTION:
        config.SECTION = section  # type: ignore[misc]  # this instance's section (e.g. one target's)
    try:
        if context is not None:
            with inject_section(context):
                return resolve_configuration(config, explicit_value=dict(explicit or {}), accept_partial=partial)
        sections = tuple(section.split(".")) if section else ()
        return resolve_configuration(
            config, sections=sections, explicit_value=dict(explicit or {}), accept_partial=partial
        )
    except ConfigValueCannotBeCoercedException as exc:  # dlt could not read the value as the declared type
        hint = spec.get_resolvable_fields().get(exc.field_name, Any)
        shown = _Secret() if is_secret_hint(hint) else exc.field_value
        allowed = spec.allowed(exc.field_name) if issubclass(spec, CheckedConfiguration) else "use " + kind_of(hint)
        raise SettingError(_dotted(section, exc.field_name), shown, allowed) from exc
    except ConfigFieldMissingException as exc:
        name = exc.fields[0]
        secret = is_secret_hint(spec.get_resolvable_fields().get(name, Any))
        where = (
            f"put it in .dlt/{'secrets' if secret else 'config'}.toml under [{section}] or in the environment "
            f"variable {env_name(_dotted(section, name))}"
        )
        raise SettingMissingError(_dotted(section, name), where) from exc


def _dotted(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def resolve_source_settings(
    factory: Callable[..., Any],
    section: str,
    source_kwargs: Mapping[str, Any] | None = None,
    *,
    partial: bool = False,
    pipeline_name: str | None = None,
) -> dict[str, Any] | None:
    """Resolve and check the settings of the dlt source ``factory`` as calling it would, without calling it.

    ``section`` (``sources.<name>``) names the settings in messages; ``source_kwargs`` are the arguments the source
    will be called with; ``partial``: missing required settings are allowed (a sandbox supplies them). Returns the
    settings (None when ``factory`` is not a dlt source); raises :class:`SettingError`.
    """
    ref = getattr(factory, "ref", None)
    if ref is None or ref.SPEC is None:
        return None
    context = ConfigSectionContext(
        pipeline_name=pipeline_name, sections=("sources", ref.section, ref.name), source_state_key=ref.name
    )
    return dict(resolve_settings(ref.SPEC, section, source_kwargs, partial=partial, context=context))
