"""``mdw new-source NAME``: a new source plugin package that passes ``mdw check-plugin NAME`` as generated.

The files under ``template/`` are :class:`string.Template` texts (``.tmpl``); their paths hold placeholders too:
``${name}`` (the source name), ``${NAME}`` (upper case, for environment variables), ``${package}`` (the Python
package and dbt package, ``mdw_<name>``) and ``${dist}`` (the distribution, ``mdw-<name>``).
"""

from __future__ import annotations

import keyword
import re
from importlib.metadata import entry_points
from pathlib import Path
from string import Template

from marketing_dwh.registry import ENTRY_POINT_GROUP

TEMPLATE = Path(__file__).parent / "template"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def placeholders(name: str) -> dict[str, str]:
    return {"name": name, "NAME": name.upper(), "package": f"mdw_{name}", "dist": f"mdw-{name.replace('_', '-')}"}


def check_name(name: str) -> None:
    """A source name is a lower-case Python identifier (it names the dlt source, its raw dataset and its models)."""
    if not NAME.match(name) or keyword.iskeyword(name) or "__" in name:
        raise ValueError(
            f"'{name}' is not a usable source name: use lower-case letters, digits and single underscores, "
            "starting with a letter (it becomes the dlt source, the dataset raw_<name> and dbt model names)"
        )


def new_source(name: str, directory: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the plugin package for source ``name`` into ``directory`` (default ``./mdw-<name>``), which must not
    exist or be empty. Returns the directory and the files written, relative to it."""
    check_name(name)
    if name in {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}:
        raise ValueError(f"a source plugin named '{name}' is installed already: choose another name")
    values = placeholders(name)
    root = Path(directory) if directory else Path(values["dist"])
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not empty: choose another folder with --dir")
    written = []
    for template in sorted(p for p in TEMPLATE.rglob("*.tmpl") if p.is_file()):
        relative = Path(Template(str(template.relative_to(TEMPLATE).with_suffix(""))).substitute(values))
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
        written.append(relative)
    return root, written
