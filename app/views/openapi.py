"""The OpenAPI document as the API answers: FAB's generated one, corrected where FAB's generic
docstrings describe something other than what its endpoints return."""

from __future__ import annotations

from flask import current_app
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.api.manager import OpenApi

# Field errors come back as {field: [messages]}, other refusals as one text.
MESSAGE = {"oneOf": [{"type": "string"}, {"type": "object"}]}
# Every primary key is an integer (FAB documents them as strings, for composite keys).
INTEGER_ID = {"type": "integer"}
# Numeric columns are answered as exact decimal strings ("27.00") and taken as either.
DECIMAL = {"oneOf": [{"type": "string", "format": "decimal"}, {"type": "number"}]}
# Times are stored and answered in UTC without an offset ("2026-12-01T09:30:00").
NAIVE_DATE_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$",
    "description": "UTC, without an offset",
}
FIELD_INFO = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "description": {"type": "string"},
            "type": {"type": "string"},
            "required": {"type": "boolean"},
            "unique": {"type": "boolean"},
        },
    },
}


def _json_schema(response: dict) -> dict | None:
    return response.get("content", {}).get("application/json", {}).get("schema")


def _correct_response(path: str, schema: dict) -> None:
    properties = schema.get("properties", {})
    if "message" in properties:
        properties["message"] = MESSAGE
    if properties.get("id", {}).get("type") == "string":
        properties["id"] = INTEGER_ID
    if "ids" in properties:
        properties["ids"]["items"] = INTEGER_ID
    if path.endswith("/_info"):
        properties["add_columns"] = properties["edit_columns"] = FIELD_INFO
    if path.endswith("/menu/"):
        # Separators between menu items are the string "-".
        properties["result"]["items"]["properties"]["childs"]["items"] = {
            "oneOf": [{"type": "object"}, {"type": "string"}]
        }


def _correct_schema(schema: dict) -> None:
    for name, field in list(schema.get("properties", {}).items()):
        if field.get("type") == "number":
            schema["properties"][name] = {
                **DECIMAL,
                **{k: v for k, v in field.items() if k == "nullable"},
            }
        elif field.get("format") == "date-time":
            schema["properties"][name] = {
                **NAIVE_DATE_TIME,
                **{k: v for k, v in field.items() if k == "nullable"},
            }


def _correct_relations(schemas: dict, apis) -> None:
    """A related record is null when unset, a to-many relation a list (FAB documents each
    as one object)."""
    for api in apis:
        model = getattr(api, "datamodel", None)
        if model is None:
            continue
        prefix = f"{api.__class__.__name__}."
        for name, schema in schemas.items():
            if not name.startswith(prefix) or name.count(".") != 1:
                continue
            for key, field in schema.get("properties", {}).items():
                if "$ref" not in field or not model.is_relation(key):
                    continue
                if model.is_relation_many_to_many(key) or model.is_relation_one_to_many(key):
                    schema["properties"][key] = {"type": "array", "items": field}
                else:
                    schema["properties"][key] = {"allOf": [field], "nullable": True}


def as_answered(spec: dict, apis=()) -> dict:
    components = spec.get("components", {})
    _correct_relations(components.get("schemas", {}), apis)
    for response in components.get("responses", {}).values():
        _correct_response("", _json_schema(response) or {})
    for schema in components.get("schemas", {}).values():
        _correct_schema(schema)
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                schema = _json_schema(response)
                if schema is not None:
                    _correct_response(path, schema)
    return spec


class DossierOpenApi(OpenApi):
    """FAB's /api/<version>/_openapi, answered as_answered()."""

    class_permission_name = "OpenApi"

    @expose("/<version>/_openapi")
    @protect()
    @safe
    def get(self, version):
        """The OpenAPI document of one API version
        ---
        get:
          description: >-
            Get the OpenAPI spec for a specific API version
          parameters:
          - in: path
            schema:
              type: string
            name: version
          responses:
            200:
              description: The OpenAPI spec
              content:
                application/json:
                  schema:
                    type: object
            404:
              $ref: '#/components/responses/404'
            500:
              $ref: '#/components/responses/500'
        """
        response = super().get(version)
        if response.status_code == 200:
            apis = current_app.appbuilder.baseviews
            return self.response(200, **as_answered(response.get_json(), apis))
        return response
