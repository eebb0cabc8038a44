"""The list of check kinds on docs/check-kinds.md, generated from the registry so that it cannot go stale:
general-purpose kinds first, then claim-specific ones; each with its module, what it means in one line (its
docstring's first sentence), what it needs of its runs, its params (type and default) and where the shipped
specs use it."""

from __future__ import annotations

from pathlib import Path

from grokrepro.claims.registry import CHECKS

def _type_name(annotation) -> str:
    name = getattr(annotation, "__name__", None) or str(annotation)
    return name.replace("typing.", "").replace("NoneType", "None")


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return repr(round(value, 4) if isinstance(value, float) else value)


def shipped_uses(specs_dir: Path) -> dict[str, list[str]]:
    """kind -> ['specs/x.yaml N'], from the shipped specs' base sections."""
    from grokrepro.spec.load import read_yaml

    uses: dict[str, list[str]] = {}
    for path in sorted(Path(specs_dir).glob("*.yaml")):
        for check in read_yaml(path).get("checks", []):
            uses.setdefault(check.get("kind"), []).append(f"`{path.stem}` {check.get('name')}")
    return uses


def _entry(kind: str, uses: dict[str, list[str]]) -> list[str]:
    entry = CHECKS[kind]
    module = entry.function.__module__.rsplit(".", 1)[-1]
    lines = [f"- **`{kind}`** ({module}{'; reads other claims’ curves' if entry.reads_other_claims else ''}): "
             f"{entry.summary}"]
    if entry.states is not None:
        lines.append(f"  At its defaults: “{entry.states(entry.params_model())}”")
    needs = entry.requires.described()
    if needs:
        lines.append(f"  Needs of its runs (checked before training): {needs}.")
    params = ", ".join(f"`{name}` ({_type_name(field.annotation)}, {_default(field)})"
                       for name, field in entry.params_model.model_fields.items())
    lines.append(f"  params: {params or 'none'}.")
    if kind in uses:
        lines.append(f"  Used by: {', '.join(uses[kind])}.")
    return lines


def check_kinds_markdown(specs_dir: Path | None = None) -> str:
    """General-purpose kinds first (any spec may use them), then the kinds written for one claim's test."""
    uses = shipped_uses(specs_dir) if specs_dir else {}
    general = sorted(kind for kind in CHECKS if CHECKS[kind].general)
    specific = sorted(kind for kind in CHECKS if not CHECKS[kind].general)
    lines = ["**General-purpose kinds**: reusable, for any spec whose runs have what they need (their params name "
             "the axis, arms and metric they read).", ""]
    for kind in general:
        lines += _entry(kind, uses)
    lines += ["", "**Claim-specific kinds**: each written for one claim's test, usable wherever its runs fit.", ""]
    for kind in specific:
        lines += _entry(kind, uses)
    return "\n".join(lines)

