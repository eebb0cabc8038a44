"""The registered kinds of every sort, generated for docs/extending.md: what a spec may name, with no plug-in
loaded (a plug-in's kinds join these lists when its spec loads it)."""

from __future__ import annotations

from pathlib import Path

# Where a spec names a kind of each registry's sort
_WHERE = {"task": "`task.kind`", "model": "`model.kind`", "probe": "`train.probes[].kind`",
          "schedule": "`optimizer.schedule.kind`", "optimizer": "`optimizer.kind`", "stop rule": "a key of `train`"}


def _library(module: str) -> bool:
    # the library's own kinds only: a plug-in loaded earlier in this process is not part of the page
    return module.startswith("grokrepro.")


def _codes(names) -> str:
    return ", ".join(f"`{name}`" for name in sorted(names))


def _transformation_kinds() -> list[str]:
    from grokrepro.train.optim import TRANSFORMS, load_library_transforms

    load_library_transforms()
    return [kind for kind, cls in TRANSFORMS.items() if _library(cls.__module__)]


def kinds_markdown(root: Path | None = None) -> str:
    from grokrepro.claims.registry import CHECKS
    from grokrepro.registry import REGISTRIES
    from grokrepro.train.losses import LOSSES

    rows = ["| sort | a spec names it in | kinds |", "|---|---|---|"]
    rows += [f"| {sort} | {_WHERE.get(sort, '')} | "
             f"{_codes(name for name, kind in registry.kinds().items() if _library(kind.module))} |"
             for sort, registry in REGISTRIES.items()]
    rows.append(f"| transformation | `optimizer.transforms[].kind` | {_codes(_transformation_kinds())} |")
    rows.append(f"| loss | `optimizer.loss` | "
                f"{_codes(name for name, loss in LOSSES.items() if _library(loss.__module__))} |")
    checks = sum(_library(kind.function.__module__) for kind in CHECKS.values())
    rows.append(f"| check kind | `checks[].kind` | {checks} kinds, each described in "
                f"[check-kinds.md](check-kinds.md) |")
    return "\n".join(rows)
