"""A pydantic model's fields as markdown tables, read from the model itself (its JSON Schema for the types, its
field info for descriptions and defaults), so that a page describing a file the code writes cannot drift from
the code. The models a model nests get a table each, in the order they first appear."""

from __future__ import annotations

import json
from typing import get_args

from pydantic import BaseModel

# The JSON types, as a researcher reading the file sees them.
JSON_TYPES = {"string", "number", "integer", "boolean", "null", "array", "object"}


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def json_type(schema: dict) -> str:
    """One property's JSON Schema in words: `number or string or null`, `array of integer`, `object of string`,
    a nested model by its name."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "anyOf" in schema:
        return " or ".join(json_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if kind == "array":
        items = json_type(schema.get("items", {}))
        return f"array of ({items})" if " or " in items else f"array of {items}"
    if kind == "object":
        values = schema.get("additionalProperties")
        # `true` (or nothing) means any values: a plain object
        if isinstance(values, dict) and values:
            inner = json_type(values)
            return f"object of ({inner})" if " or " in inner else f"object of {inner}"
        return "object"
    return kind if kind in JSON_TYPES else "any"


def _default(field) -> str:
    if field.is_required():
        return "required"
    return f"`{json.dumps(field.get_default(call_default_factory=True))}`"


def _cell(text: str) -> str:
    # a pipe would end the cell; a newline would end the row
    return text.replace("|", "\\|").replace("\n", " ")


def fields_table(model: type[BaseModel], schema: dict) -> str:
    """One row per field of `model`, in its order: name, JSON type, required or default, description."""
    properties = schema["properties"]
    rows = ["| field | type | required or default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        rows.append(f"| `{name}` | {_cell(json_type(properties[name]))} | {_default(field)} | "
                    f"{_cell(field.description or '')} |")
    return "\n".join(rows)


def _nested_in_order(schema: dict, defs: dict) -> list[str]:
    """The names of the models `schema` refers to, depth first, each once, in the order they first appear."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                name = _ref_name(node["$ref"])
                if name not in found:
                    found.append(name)
                    walk(defs[name])
            for key, value in node.items():
                if key != "$defs":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema.get("properties", {}))
    return found


def _nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """Every BaseModel subclass reachable through the fields' annotations (inside lists, unions, optionals)."""
    seen: list[type[BaseModel]] = []

    def visit(annotation):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in seen:
                seen.append(annotation)
                for field in annotation.model_fields.values():
                    visit(field.annotation)
            return
        for argument in get_args(annotation):
            visit(argument)

    for field in model.model_fields.values():
        visit(field.annotation)
    return seen


def model_tables_markdown(model: type[BaseModel]) -> str:
    """The model's table, then one per model it nests, each under its name and docstring."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    nested = {cls.__name__: cls for cls in _nested_models(model)}
    sections = [fields_table(model, schema)]
    for name in _nested_in_order(schema, defs):
        sections.append(f"**{name}**: {defs[name].get('description', '').strip()}")
        sections.append(fields_table(nested[name], defs[name]))
    return "\n\n".join(sections)


def verdict_schema_markdown() -> str:
    """The fields of `verdict.json`, from the model that writes and reads it."""
    from grokrepro.claims.judgement import Verdict

    return model_tables_markdown(Verdict)


def verdict_schema_json() -> str:
    """`verdict.json`'s JSON Schema, as a file: for validating a verdict outside Python."""
    from grokrepro.claims.judgement import Verdict

    return json.dumps(Verdict.model_json_schema(), indent=2, ensure_ascii=False) + "\n"
