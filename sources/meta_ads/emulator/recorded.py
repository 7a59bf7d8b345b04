"""Recorded-shape responses (``fixtures/*.toml``, each naming its public source) that faults replay as sent."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).with_name("fixtures")
JSON_TYPE = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class Recorded:
    name: str
    status: int
    content_type: str
    body: str  # may hold ``{object_id}``
    headers: tuple[tuple[str, str], ...]  # exactly these usage headers (none when empty)

    def render(self, object_id: str) -> tuple[int, dict[str, str], str]:
        headers = {"Content-Type": self.content_type, **dict(self.headers)}
        return self.status, headers, self.body.replace("{object_id}", object_id)


def names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.toml"))


@cache
def recorded(name: str) -> Recorded:
    path = FIXTURES / f"{name}.toml"
    if not path.exists():
        raise KeyError(f"no recorded response '{name}'; known: {', '.join(names())}")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    body = data["text"] if "text" in data else json.dumps(data.get("json", {}))
    headers = tuple((k, str(v)) for k, v in data.get("headers", {}).items())
    return Recorded(name, int(data["status"]), data.get("content_type", JSON_TYPE), body, headers)
