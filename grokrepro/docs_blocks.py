"""Every piece of the docs that is generated from code or data, in one list: which page, between which markers
(or the whole file), and what generates it. `grokrepro docs --write` rewrites them all; `grokrepro docs --check`
names each one whose text differs from what its generator gives now, so a test fails when the docs drift."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional


@dataclass(frozen=True)
class Block:
    name: str
    page: str  # relative to the repository root
    generate: Callable[[Path], str]  # the repository root -> the block's text
    markers: Optional[tuple[str, str]] = None  # None: the whole file is generated

    def current(self, root: Path) -> Optional[str]:
        """The block's text as the page holds it; None when the page or its markers are missing."""
        path = Path(root) / self.page
        if not path.is_file():
            return None
        text = path.read_text()
        if self.markers is None:
            return text
        begin, end = self.markers
        if begin not in text or end not in text:
            return None
        return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")

    def rewritten(self, root: Path, generated: str) -> str:
        """The page's text with the block replaced by `generated`."""
        if self.markers is None:
            return generated
        text = (Path(root) / self.page).read_text()
        begin, end = self.markers
        if begin not in text or end not in text:
            raise ValueError(f"{self.page} has no {begin} ... {end} markers for block {self.name}")
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1]
        return f"{before}{begin}\n{generated}\n{end}{after}"


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def _check_kinds(root: Path) -> str:
    from grokrepro.guide import check_kinds_markdown

    return check_kinds_markdown(Path(root) / "specs")


def _verdict_schema(root: Path) -> str:
    from grokrepro.schema_table import verdict_schema_markdown

    return verdict_schema_markdown()


def _verdict_schema_json(root: Path) -> str:
    from grokrepro.schema_table import verdict_schema_json

    return verdict_schema_json()


def _step_profile_paper(root: Path) -> str:
    from grokrepro.perf_tables import step_profile_paper_table

    return step_profile_paper_table(root)


def _trainer_speed(root: Path) -> str:
    from grokrepro.perf_tables import trainer_speed_table

    return trainer_speed_table(root)


def _claims_table(root: Path) -> str:
    from grokrepro.claims_table import claims_table_markdown

    return claims_table_markdown(root)


def _results(root: Path) -> str:
    from grokrepro.claims_table import results_markdown

    return results_markdown(root)


def _kinds(root: Path) -> str:
    from grokrepro.kinds_table import kinds_markdown

    return kinds_markdown(root)


BLOCKS = (
    Block("claims-table", "README.md", _claims_table, _markers("claims-table")),
    Block("results", "docs/results/default.md", _results, _markers("results")),
    Block("registered-kinds", "docs/extending.md", _kinds, _markers("registered-kinds")),
    Block("check-kinds", "docs/check-kinds.md", _check_kinds, _markers("check-kinds")),
    Block("verdict-schema", "docs/data-contracts.md", _verdict_schema, _markers("verdict-schema")),
    Block("verdict.schema.json", "docs/verdict.schema.json", _verdict_schema_json),
    Block("perf:trainer_speed", "docs/performance.md", _trainer_speed, _markers("perf:trainer_speed")),
    Block("perf:step_profile", "docs/performance.md", _step_profile_paper, _markers("perf:step_profile")),
)


def stale_blocks(root: Path, blocks=BLOCKS) -> list[str]:
    """'page: block name (why)' for each block whose text is not what its generator gives now."""
    stale = []
    for block in blocks:
        current = block.current(root)
        if current is None:
            stale.append(f"{block.page}: {block.name} (the page or its markers are missing)")
        elif current != block.generate(root):
            stale.append(f"{block.page}: {block.name} (differs from what it is generated from)")
    return stale


def write_blocks(root: Path, blocks=BLOCKS) -> list[str]:
    """Rewrite every stale block; 'page: block name' for each one rewritten."""
    written = []
    for block in blocks:
        generated = block.generate(root)
        if block.current(root) == generated:
            continue
        path = Path(root) / block.page
        path.write_text(block.rewritten(root, generated))
        written.append(f"{block.page}: {block.name}")
    return written
