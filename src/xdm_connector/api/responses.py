"""JSON bodies rendered the way the original API wrote them.

The ingestion contract's bodies are compared byte for byte by existing clients:
``{"requestId": 3520, "info": "...", "status": "Success"}``, with a space after each colon
and comma and keys in the contract's order. ``ContractJSONResponse`` renders exactly that.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse


class ContractJSONResponse(JSONResponse):
    """A JSON response with the original API's separators and key order."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False).encode("utf-8")


def gateway_error(
    status_code: int, error_code: str, message: str, **extra: Any
) -> ContractJSONResponse:
    """A gateway-style error: ``{"error_code": "401013", "message": "Oauth token is not valid"}``."""
    return ContractJSONResponse(
        {"error_code": error_code, "message": message, **extra}, status_code
    )
