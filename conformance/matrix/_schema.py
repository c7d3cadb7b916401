"""The result format's JSON Schema, and a check of a document against it that needs no third-party validator."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

# The schema file is the contract; this checks a document against it without a
# third-party validator, so the kit keeps its dependencies to pytest's. It reads
# only the keywords result-1.json uses and refuses any other, so a schema change
# cannot be silently half-checked (tests/test_matrix.py compares it with jsonschema).
_ANNOTATIONS = {"$schema", "$id", "title", "description"}
_KEYWORDS = {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "const",
    "enum",
    "pattern",
    "minimum",
    "exclusiveMinimum",
}
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def result_schema() -> dict[str, Any]:
    """The JSON Schema of the result format (`conformance/schema/result-1.json`)."""
    text = resources.files("conformance").joinpath("schema").joinpath("result-1.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(document: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Every way `document` breaks `schema`, as `path: problem` lines (empty when it is valid)."""
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise ValueError(f"schema keyword(s) {sorted(unknown)} at {where} are not supported by conformance.matrix")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        # bool is an int to Python, never to JSON.
        ok = any(isinstance(document, _TYPES[t]) and not (isinstance(document, bool) and t != "boolean") for t in types)
        if not ok:
            return [f"{where}: expected {' or '.join(types)}, found {_json_type(document)}"]
    errors: list[str] = []
    if "const" in schema and document != schema["const"]:
        errors.append(f"{where}: expected {json.dumps(schema['const'])}, found {json.dumps(document)}")
    if "enum" in schema and document not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        errors.append(f"{where}: {json.dumps(document)} is not one of {allowed}")
    if isinstance(document, str) and "pattern" in schema and not re.search(schema["pattern"], document):
        errors.append(f"{where}: {json.dumps(document)} does not match {schema['pattern']}")
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        if "minimum" in schema and document < schema["minimum"]:
            errors.append(f"{where}: {document} is less than {schema['minimum']}")
        if "exclusiveMinimum" in schema and document <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: {document} is not greater than {schema['exclusiveMinimum']}")
    if isinstance(document, dict):
        properties: dict[str, Any] = schema.get("properties", {})
        errors += [f"{where}: missing {name!r}" for name in schema.get("required", []) if name not in document]
        for key, value in document.items():
            if key in properties:
                errors += schema_errors(value, properties[key], f"{where}.{key}")
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    errors.append(f"{where}: unexpected {key!r}")
                elif isinstance(extra, dict):
                    errors += schema_errors(value, extra, f"{where}.{key}")
    if isinstance(document, list) and "items" in schema:
        for i, item in enumerate(document):
            errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    return errors


def _json_type(value: Any) -> str:
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return type(value).__name__
