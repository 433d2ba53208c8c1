"""Turn a pydantic model's JSON Schema into a Kubernetes structural OpenAPI v3 schema.

Kubernetes wants every sub-schema inline (no ``$ref``), optional fields without ``null``
branches, no ``title``/``const``/``additionalProperties: false``, and only the defaults the API
server should apply. The CEL rules and ``x-kubernetes-*`` keys the models carry pass through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pydantic


_DROP = frozenset({"title", "const", "$defs"})
_DEFAULT_MARKER = "x-crd-default"
_VALIDATIONS = "x-kubernetes-validations"


def structural_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The structural schema of ``model`` as the CRD's ``openAPIV3Schema``."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _Converter(raw.get("$defs", {})).convert(raw)
    # The API server owns ObjectMeta's schema; a CRD may only say that metadata is an object.
    if "metadata" in schema.get("properties", {}):
        schema["properties"]["metadata"] = {"type": "object"}
    return schema


class _Converter:
    def __init__(self, defs: dict[str, Any]) -> None:
        self._defs = defs

    def convert(self, node: dict[str, Any]) -> dict[str, Any]:
        node = self._inline(node)
        out: dict[str, Any] = {}
        keep_default = bool(node.get(_DEFAULT_MARKER))
        for key, value in node.items():
            if key in _DROP or key == _DEFAULT_MARKER:
                continue
            if key == "default" and not keep_default:
                continue
            if key == "properties":
                out[key] = {name: self.convert(sub) for name, sub in value.items()}
            elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
                out[key] = self.convert(value)
            elif key == "additionalProperties":
                continue  # false (closed model) or true (open metadata): prune instead
            elif key == "anyOf":
                out[key] = [self.convert(branch) for branch in value]
            else:
                out[key] = value
        if "const" in node:
            out.setdefault("type", "string")
        if "required" in out:
            out["required"] = list(out["required"])
        return _ordered(out)

    def _inline(self, node: dict[str, Any]) -> dict[str, Any]:
        """Resolve ``$ref``/``allOf`` and drop the ``null`` branch of optional fields."""
        while True:
            if "$ref" in node:
                target = self._defs[node["$ref"].rsplit("/", 1)[1]]
                rest = {k: v for k, v in node.items() if k != "$ref"}
                node = _merge(target, rest)
            elif "allOf" in node and len(node["allOf"]) == 1:
                rest = {k: v for k, v in node.items() if k != "allOf"}
                node = _merge(node["allOf"][0], rest)
            elif "anyOf" in node and any(b == {"type": "null"} for b in node["anyOf"]):
                branches = [b for b in node["anyOf"] if b != {"type": "null"}]
                rest = {k: v for k, v in node.items() if k != "anyOf"}
                if len(branches) != 1:
                    raise ValueError(f"cannot express union {branches!r} in a structural schema")
                node = _merge(branches[0], rest)
            else:
                return node


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` (the field's own keys) wins, except that CEL rules from both are kept."""
    merged = {**base, **overlay}
    rules = [*base.get(_VALIDATIONS, []), *overlay.get(_VALIDATIONS, [])]
    if rules:
        merged[_VALIDATIONS] = rules
    return merged


_KEY_ORDER = ("description", "type", "format", "enum", "default", "properties", "required", "items")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """Stable, readable key order: description and type first, the rest sorted."""
    head = [k for k in _KEY_ORDER if k in node]
    tail = sorted(k for k in node if k not in _KEY_ORDER)
    return {k: node[k] for k in [*head, *tail]}
