"""The README's performance tables are written from the saved benchmark results, never by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import readme, results


def test_saved_tables_replace_their_readme_blocks_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    table = results.Table("demo.run", ["measure", "pipeline", "reference", "ratio"], note="Min of 3.")
    table.add("make demo", results.seconds(21.456), results.seconds(4.0), results.ratio(21.456, 4.0))
    table.save()
    text = (
        "intro\n<!-- bench:demo.run -->\nold table\n<!-- /bench:demo.run -->\n"
        "<!-- bench:other -->\nkept\n<!-- /bench:other -->\nend\n"
    )
    new, written, missing = readme.update(text)
    assert written == ["demo.run"] and missing == ["other"]
    assert "old table" not in new and "kept" in new and new.startswith("intro\n") and new.endswith("end\n")
    assert "| make demo | 21.5 s | 4.00 s | 5.36x |" in new
    assert f"Min of 3. Measured {table.measured} on " in new
    assert readme.update(new)[0] == new  # idempotent


def test_every_readme_block_names_a_table_the_benches_save() -> None:
    ids = [m["id"] for m in readme.BLOCK.finditer(readme.README.read_text())]
    assert ids, "the README's performance section has generated tables"
    sources = "\n".join(p.read_text() for p in Path(readme.__file__).parent.glob("*.py"))
    assert all(f'"{i}"' in sources for i in ids), ids
