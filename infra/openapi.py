"""The HTTP API's OpenAPI 3 document, generated from the functions' own resolvers.

Every function of template.yaml with HttpApi routes is loaded as the harness loads it, and the
schemas Powertools derives from its routes' pydantic models are merged into one document,
checked in as docs/openapi.json. The twin serves it, with a Swagger UI, at /openapi.json and /docs.

    python -m infra.openapi        # (make openapi) rewrites docs/openapi.json
"""

from __future__ import annotations

import argparse
import json
import threading
import tomllib
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

from infra.stack import ROOT, LocalStack
from infra.template import FunctionSpec, load_yaml

DOCUMENT = ROOT / "docs" / "openapi.json"
TITLE = "Decider"
ERRORS = (
    'Errors are a 4xx status with `{"error": {"code": "...", "message": "...", "field": "..."}}`'
    " (`field` names the request field at fault, when there is one); bad input never yields"
    " a 5xx. Unknown JSON fields are rejected with a 400 that names them. The routes under"
    " /personalizer/v1.0 speak Azure Personalizer's v1.0 shapes instead, errors included."
)
SERVERS: list[dict[str, Any]] = [
    {
        "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
        "description": "A deployed stack (its ApiUrl output)",
        "variables": {
            "apiId": {"default": "your-api-id", "description": "The HTTP API's id"},
            "region": {"default": "us-east-1", "description": "The stack's region"},
        },
    },
    {"url": "http://127.0.0.1:3000", "description": "The local twin (make serve)"},
]
# The twin's own origin, whatever host name and port it is reached by: "Try it out" calls it.
TWIN_SERVERS: list[dict[str, Any]] = [{"url": "/", "description": "This local twin"}]
SWAGGER_ASSETS = {
    "/docs/swagger-ui-bundle.min.js": "text/javascript; charset=utf-8",
    "/docs/swagger-ui.min.css": "text/css; charset=utf-8",
}
_REF_PREFIX = "#/components/schemas/"


def generate(
    stack: LocalStack | None = None, servers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The merged document of every function in the template that serves HttpApi routes."""
    stack = stack or LocalStack()
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for logical_id, spec in stack.template.functions.items():
        if spec.routes:
            _merge(logical_id, _function_document(stack, spec), paths, schemas)
    _drop_unanswered_422(paths)
    _drop_204_content(paths)
    return {
        "openapi": "3.1.0",
        "info": _info(stack),
        "servers": SERVERS if servers is None else servers,
        "paths": paths,
        "components": {"schemas": _referenced(paths, schemas)},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _function_document(stack: LocalStack, spec: FunctionSpec) -> dict[str, Any]:
    app: Any = getattr(stack.module(spec.logical_id), "app", None)
    if not hasattr(app, "get_openapi_json_schema"):
        raise TypeError(f"{spec.logical_id} has HttpApi routes but no Powertools resolver `app`")
    document: dict[str, Any] = json.loads(app.get_openapi_json_schema())
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    declared = {(route.method, route.path) for route in spec.routes}
    if served != declared:
        raise ValueError(
            f"{spec.logical_id}: template.yaml routes {sorted(declared)} "
            f"but the resolver serves {sorted(served)}"
        )
    return document


def _merge(
    logical_id: str,
    document: dict[str, Any],
    paths: dict[str, dict[str, Any]],
    schemas: dict[str, Any],
) -> None:
    # Powertools' OpenAPIMerge silently keeps one of two different same-named models: refuse.
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"{logical_id}: a different model is also named {name!r}")
    operation_ids = {op["operationId"] for item in paths.values() for op in item.values()}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in paths.get(path, {}):
                raise ValueError(f"{logical_id}: {method.upper()} {path} is served twice")
            if operation["operationId"] in operation_ids:
                raise ValueError(f"{logical_id}: operationId {operation['operationId']} is taken")
            paths.setdefault(path, {})[method] = operation


def _drop_unanswered_422(paths: dict[str, dict[str, Any]]) -> None:
    # Powertools documents a 422 on every validated route; http_api answers those with a 400.
    for item in paths.values():
        for operation in item.values():
            answer = operation["responses"].get("422", {})
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == f"{_REF_PREFIX}HTTPValidationError":
                del operation["responses"]["422"]


def _drop_204_content(paths: dict[str, dict[str, Any]]) -> None:
    # Powertools derives content from a `-> Response[None]` annotation; a 204 has no body.
    for item in paths.values():
        for operation in item.values():
            operation["responses"].get("204", {}).pop("content", None)


def _referenced(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """The schemas that the paths use, directly or through other schemas, by name."""
    used: set[str] = set()
    pending = _refs(paths)
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending |= _refs(schemas[name])
    return {name: schemas[name] for name in sorted(used)}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(_REF_PREFIX)} if "$ref" in node else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def _info(stack: LocalStack) -> dict[str, Any]:
    project = tomllib.loads((stack.root / "pyproject.toml").read_text())["project"]
    summary = " ".join(str(load_yaml(stack.root / "template.yaml")["Description"]).split())
    declared = project["license"]  # an SPDX expression, as a string or (older) a table
    spdx = declared if isinstance(declared, str) else declared["text"]
    return {
        "title": TITLE,
        "version": project["version"],
        "description": f"{summary}\n\n{ERRORS}\n\nGenerated by `make openapi`; do not edit.",
        "license": {"name": spdx, "identifier": spdx},
    }


class ApiDocs:
    """The twin's /openapi.json and Swagger UI at /docs, with Powertools' copy of its assets."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._lock = threading.Lock()
        self._pages: dict[str, tuple[str, bytes]] = {}

    def paths(self) -> set[str]:
        return {"/openapi.json", "/docs", *SWAGGER_ASSETS}

    def page(self, path: str) -> tuple[str, bytes]:
        """(content type, body) of one of ``paths()``; the document is generated on first use."""
        if path in SWAGGER_ASSETS:
            asset = path.removeprefix("/docs/")
            ui = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
            return SWAGGER_ASSETS[path], ui.joinpath(asset).read_bytes()
        with self._lock:
            if not self._pages:
                document = render(generate(self.stack, TWIN_SERVERS))
                html = generate_swagger_html(
                    spec=document,
                    swagger_js="/docs/swagger-ui-bundle.min.js",
                    swagger_css="/docs/swagger-ui.min.css",
                    swagger_base_url="/docs",
                    oauth2_config=None,
                )
                self._pages = {
                    "/openapi.json": ("application/json", document.encode()),
                    "/docs": ("text/html; charset=utf-8", html.encode()),
                }
            return self._pages[path]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(DOCUMENT), help="where to write the document")
    args = parser.parse_args(argv)
    with open(args.output, "w") as output:
        output.write(render(generate()))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
