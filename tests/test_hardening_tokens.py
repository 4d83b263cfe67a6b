"""Secrets are compared in constant time: no `==` / `!=` / `in` on a token, secret or password anywhere
in the service, and the admin check accepts only the exact token."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi import HTTPException
from starlette.requests import Request

import system_under_test
from system_under_test.api.auth import require_admin

SECRET_WORDS = ("token", "secret", "password", "passwd", "api_key")
SERVICE_DIR = Path(system_under_test.__file__).parent


def names_in(node: ast.AST) -> set[str]:
    return {
        n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else ""
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    }


def secret_comparisons(source: str) -> list[int]:
    """Line numbers of equality / membership comparisons that involve a secret-looking name."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(word in name.lower() for operand in operands for name in names_in(operand) for word in SECRET_WORDS):
            lines.append(node.lineno)
    return lines


def test_the_scan_flags_a_plain_comparison() -> None:
    assert secret_comparisons("ok = request_token == settings.admin_token\n") == [1]
    assert secret_comparisons("ok = hmac.compare_digest(token, expected)\n") == []


def test_no_secret_is_compared_with_equality_in_the_service() -> None:
    offenders = {
        str(path.relative_to(SERVICE_DIR)): lines
        for path in SERVICE_DIR.rglob("*.py")
        if (lines := secret_comparisons(path.read_text()))
    }
    assert offenders == {}


def test_admin_check_uses_compare_digest() -> None:
    source = (SERVICE_DIR / "api" / "auth.py").read_text()
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and "compare_digest" in names_in(n.func)]
    assert len(calls) == 1


class _State:
    pass


def request_with(authorization: str | None, token: str | None) -> Request:
    app = type("App", (), {"state": _State()})()
    app.state.settings = type("S", (), {"admin_token": token})()
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "app": app})


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer", 401),
        ("Bearer wrong-token", 401),
        ("Bearer s3cret-token-x", 401),  # a longer token that starts with the right one
        ("Bearer s3cret-toke", 401),  # a prefix of the right one
        ("Basic s3cret-token", 401),
        ("Bearer s3cret-token", None),
        ("bearer  s3cret-token ", None),
    ],
)
def test_admin_token_must_match_exactly(authorization: str | None, status: int | None) -> None:
    request = request_with(authorization, "s3cret-token")
    if status is None:
        require_admin(request)
        return
    with pytest.raises(HTTPException) as refused:
        require_admin(request)
    assert refused.value.status_code == status


def test_admin_endpoints_refuse_without_a_configured_token() -> None:
    with pytest.raises(HTTPException) as refused:
        require_admin(request_with("Bearer anything", None))
    assert refused.value.status_code == 403
