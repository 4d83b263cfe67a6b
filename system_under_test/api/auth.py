"""Admin authentication for state-changing endpoints: `Authorization: Bearer <ATHBENCH_ADMIN_TOKEN>`.

Use as a dependency: `dependencies=[Depends(require_admin)]`. Without a configured token every admin
endpoint refuses (403); a missing or wrong token gets 401. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status


def require_admin(request: Request) -> None:
    """Raise 403 when admin endpoints are disabled, 401 when the bearer token is missing or wrong."""
    expected: str | None = request.app.state.settings.admin_token
    if expected is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin endpoints are disabled: ATHBENCH_ADMIN_TOKEN is not set")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid admin token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
