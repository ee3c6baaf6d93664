"""The OpenAPI document declares the 401 and 403 answers of every operation that
authenticates (issue 16, item 8: 37 operations omitted them), read from a real server.

Which operations authenticate is taken from the app itself: every handler that takes the
``principal`` dependency can answer 401 (no or a bad credential) and 403 (a role or
account it may not use, a cross-site cookie request); any other non-public operation
authenticates by its own token and can answer 401.
"""

from __future__ import annotations

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from tests.security.test_isolation import _is_public, _template
from tests.support.server import live_server


def _expected(app: Litestar) -> dict[tuple[str, str], set[str]]:
    expected: dict[tuple[str, str], set[str]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = _template(route.path)
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            if "principal" in handler.parsed_fn_signature.parameters:
                codes = {"401", "403"}
            elif not _is_public(path):
                codes = {"401"}
            else:
                continue
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                expected[(method.lower(), path)] = codes
    return expected


def test_every_authenticating_operation_declares_401_and_403(
    backend_env: dict[str, str], app: Litestar
) -> None:
    with live_server(backend_env) as server:
        response = httpx.get(f"{server.http_url}/schema/openapi.json", timeout=30)
    assert response.status_code == 200
    document = response.json()
    expected = _expected(app)
    assert len(expected) >= 34  # every REST operation but health, schemas, signup, login

    missing = []
    for (method, path), codes in sorted(expected.items()):
        operation = document["paths"][path][method]
        absent = codes - set(operation["responses"])
        if absent:
            missing.append(f"{method.upper()} {path}: {sorted(absent)}")
    assert not missing, "\n".join(missing)

    # They describe the error body ofca actually sends.
    operation = document["paths"]["/api/v1/topics"]["post"]
    for code in ("401", "403"):
        schema = operation["responses"][code]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert {"detail", "status_code", "timestamp"} <= set(schema["properties"])
