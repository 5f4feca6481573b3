"""The submission API (报送接口): departments' systems submit files; they ask how each one went.

``POST /v1/submissions``   a file (multipart field ``file``; or the raw body with ``X-File-Name``)
                           or a JSON body of records; optional ``Idempotency-Key``. 202 and the
                           submission id; the body is in ``inbox/<department>/`` for the same
                           claim path and DAGs as a dropped file.
``GET /v1/submissions/{id}`` the ledger's status, rows loaded and rejected, reasons (zh/en), the
                           first publication that included it.
``GET /v1/health``         no token needed.
``GET /v1/openapi.json``   the OpenAPI document (committed as ``docs/openapi.json``).

Who may do what: ``Authorization: Bearer <token>`` (``scorecard tokens``). A department's token
submits for that department only (the department comes from the token; a request naming another
one is refused) and reads only its own submissions; an admin token reads all and submits none.
Every request is audited (``scorecard.api.audit``), refusals too, never the body.

Limits, checked in this order, each refusal before anything is stored: token (401/403), requests
per minute per token (429 + ``Retry-After``), concurrent uploads (503 + ``Retry-After``), the
declared size (413), reading the body within the request time (408) and within the size (413),
the body's form (400 malformed, 415 unsupported type). Then the idempotency key: a replay gets the
first answer and stores nothing; the same key with another body gets 422.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
import zipfile
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from scorecard.api import submissions
from scorecard.api.audit import AuditLog, audit_path
from scorecard.api.tokens import TokenEntry, TokenStore
from scorecard.core.settings import Settings

API_VERSION = "1.0.0"
EXTENSIONS = (".csv", ".xlsx", ".json")
MULTIPART_ALLOWANCE = 64 * 1024  # a multipart body's boundaries and headers around the file
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Limits:
    """The API's limits; ``from_env`` reads them (``SCORECARD_API_*``, docs/submissions.md)."""

    max_body_bytes: int
    request_timeout_seconds: float = 30.0
    submissions_per_minute: int = 30
    max_concurrent_uploads: int = 4
    ledger_wait_seconds: float = 10.0

    @classmethod
    def from_env(cls, settings: Settings) -> Limits:
        env = os.environ
        return cls(
            max_body_bytes=settings.max_file_bytes,
            request_timeout_seconds=float(env.get("SCORECARD_API_REQUEST_TIMEOUT_SECONDS") or 30),
            submissions_per_minute=int(env.get("SCORECARD_API_SUBMISSIONS_PER_MINUTE") or 30),
            max_concurrent_uploads=int(env.get("SCORECARD_API_MAX_CONCURRENT_UPLOADS") or 4),
        )


class Refusal(HTTPException):
    """An HTTP error with a zh/en message and the word the audit log records."""

    def __init__(
        self, status_code: int, outcome: str, zh: str, en: str, headers: dict[str, str] | None = None
    ):
        super().__init__(
            status_code, detail={"error": outcome, "message_zh": zh, "message_en": en}, headers=headers
        )
        self.outcome = outcome


class RateLimiter:
    """At most ``per_minute`` requests per token in any 60 s (a sliding window)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def admit(self, key: str) -> int:
        """0 when admitted, else the seconds to wait before the next request is admitted."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen[key]
            while seen and now - seen[0] >= 60.0:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(1, math.ceil(60.0 - (now - seen[0])))
            seen.append(now)
            return 0


# --- audit: a plain ASGI middleware, so that every answer (a refusal before the body was read, a
# timeout, an error) gets its line with the body's size as received -----------------------------


class AuditMiddleware:
    def __init__(self, app: Any, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        status = 500
        written = False
        scope.setdefault("state", {})

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
            return message

        async def write_line() -> None:
            nonlocal written
            if written:
                return
            written = True
            state = scope["state"]
            headers = dict(scope.get("headers") or [])
            declared = headers.get(b"content-length", b"").decode("latin-1")
            fields = {
                "token_id": state.get("token_id"),
                "department": state.get("department"),
                "method": scope.get("method"),
                "endpoint": scope.get("path", "")[:200],
                "status": status,
                "outcome": state.get("outcome") or ("ok" if status < 400 else "error"),
                "bytes": received,
                "declared_bytes": int(declared) if declared.isdigit() else None,
                "submission_id": state.get("submission_id"),
            }
            await anyio.to_thread.run_sync(lambda: self.audit.append(**fields))

        async def recording_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # the line is written before the answer is complete: whoever has the answer can
                # already read its audit line
                await write_line()
            await send(message)

        try:
            await self.app(scope, counting_receive, recording_send)
        finally:
            await write_line()


# --- the application ------------------------------------------------------------------------------


def _body_schema() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "application/json": {
                    "schema": {
                        "description": "a list of records, or {department, records} (docs/submissions.md)",
                        "oneOf": [{"type": "array"}, {"type": "object"}],
                    }
                },
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
                "description": "a replay with the same key returns the first answer and stores nothing",
            },
            {
                "name": "X-File-Name",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "the file's name for a raw (not multipart) body; data, never a path",
            },
        ],
        "security": [{"bearerAuth": []}],
        "responses": {
            "202": {"description": "accepted: the submission id and status_url"},
            "400": {"description": "malformed body"},
            "401": {"description": "no token, or an unknown, wrong or revoked one"},
            "403": {"description": "the token may not submit this (an admin token, another department)"},
            "408": {"description": "the body did not arrive within the request time"},
            "413": {"description": "larger than the loader's limit"},
            "415": {"description": "not CSV, XLSX or JSON"},
            "422": {"description": "the Idempotency-Key was used with another body"},
            "429": {"description": "too many submissions this minute (Retry-After)"},
            "503": {"description": "too many uploads at once (Retry-After)"},
        },
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document the server serves at ``/v1/openapi.json``."""
    return create_app(settings).app.openapi()


def create_app(settings: Settings, limits: Limits | None = None) -> AuditMiddleware:
    """The API over one data directory (``settings.home``), wrapped in its audit log."""
    limits = limits or Limits.from_env(settings)
    tokens = TokenStore(settings.home)
    limiter = RateLimiter(limits.submissions_per_minute)
    uploads = asyncio.Semaphore(limits.max_concurrent_uploads)
    app = FastAPI(
        title="Common Prosperity Scorecard submission API 共同富裕评价报送接口",
        version=API_VERSION,
        description="Departments' systems submit files and read their status (docs/submissions.md).",
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearerAuth"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "a token from `scorecard tokens create` (scp_<id>_<secret>)",
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]

    @app.exception_handler(HTTPException)
    async def refusal_handler(request: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc, Refusal):
            request.state.outcome = exc.outcome
        return JSONResponse(
            exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    def authenticate(request: Request) -> TokenEntry:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        entry = tokens.authenticate(presented.strip()) if scheme.lower() == "bearer" else None
        if entry is None:
            raise Refusal(
                401,
                "unauthorized",
                "缺少令牌，或令牌无效、错误、已吊销",
                "no token, or an unknown, wrong or revoked token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.token_id = entry.token_id
        request.state.department = entry.holder
        return entry

    @app.get("/v1/health", summary="liveness (no token needed)")
    async def health(request: Request) -> dict[str, str]:
        request.state.outcome = "ok"
        return {"status": "ok"}

    @app.post(
        "/v1/submissions",
        summary="submit a file or a JSON body of records for the token's department",
        status_code=202,
        openapi_extra=_body_schema(),
    )
    async def submit(request: Request) -> JSONResponse:
        token = authenticate(request)
        if token.is_admin:
            raise Refusal(
                403, "forbidden", "管理令牌只能查询，不能报送", "an admin token reads; it cannot submit"
            )
        named = request.query_params.get("department")
        if named is not None and named != token.holder:
            raise _other_department(named)
        key = request.headers.get("idempotency-key")
        if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
            raise Refusal(
                400,
                "malformed",
                "Idempotency-Key 无效",
                "the Idempotency-Key is empty, too long or unprintable",
            )
        wait = limiter.admit(token.token_id)
        if wait:
            raise Refusal(
                429,
                "rate_limited",
                f"每分钟报送次数超过 {limits.submissions_per_minute}，请 {wait} 秒后重试",
                f"more than {limits.submissions_per_minute} submissions a minute; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        if uploads.locked():
            raise Refusal(
                503,
                "busy",
                "同时上传过多，请稍后重试",
                "too many uploads at once; retry shortly",
                headers={"Retry-After": "1"},
            )
        async with uploads:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            allowance = MULTIPART_ALLOWANCE if content_type == "multipart/form-data" else 0
            data = await _read_body(request, limits, limits.max_body_bytes + allowance)
            sent_name, payload, form_department = await _unpack(request, content_type, data, limits)
            if form_department is not None and form_department != token.holder:
                raise _other_department(form_department)
            extension = _check_form(settings, sent_name, payload, token.holder)
            try:
                answer, replayed = await anyio.to_thread.run_sync(
                    lambda: submissions.accept(
                        settings,
                        department=token.holder,
                        token_id=token.token_id,
                        sent_name=sent_name,
                        extension=extension,
                        data=payload,
                        idempotency_key=key,
                    )
                )
            except submissions.IdempotencyConflict:
                raise Refusal(
                    422,
                    "idempotency_conflict",
                    "该 Idempotency-Key 已用于另一份内容",
                    "this Idempotency-Key was used with a different body",
                ) from None
        request.state.outcome = "replayed" if replayed else "accepted"
        request.state.submission_id = answer.body["submission_id"]
        headers = {"Location": answer.body["status_url"]}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)

    @app.get(
        "/v1/submissions/{submission_id}",
        summary="the status of one submission, from the ledger",
        openapi_extra={
            "security": [{"bearerAuth": []}],
            "responses": {
                "200": {
                    "description": "status (received, loaded, loaded_with_rejects, rejected, duplicate,"
                    " superseded), rows_input/loaded/rejected, reasons (zh/en), publication"
                },
                "401": {"description": "no token, or an unknown, wrong or revoked one"},
                "403": {"description": "another department's submission"},
                "404": {"description": "no such submission"},
                "503": {"description": "the warehouse is being written (Retry-After)"},
            },
        },
    )
    async def submission_status(request: Request, submission_id: str) -> JSONResponse:
        token = authenticate(request)
        record = submissions.record_of(settings, submission_id)
        if record is None:
            raise Refusal(404, "not_found", "没有该报送", "no such submission")
        request.state.submission_id = submission_id
        if not token.is_admin and record.get("department") != token.holder:
            raise Refusal(
                403,
                "forbidden",
                "只能查询本部门的报送",
                "a token reads only its own department's submissions",
            )
        try:
            answer = await anyio.to_thread.run_sync(
                lambda: submissions.status(settings, submission_id, wait_seconds=limits.ledger_wait_seconds)
            )
        except submissions.LedgerBusy:
            raise Refusal(
                503,
                "ledger_busy",
                "数据仓库正在写入，请稍后重试",
                "the warehouse is being written; retry shortly",
                headers={"Retry-After": "5"},
            ) from None
        assert answer is not None
        request.state.outcome = "ok"
        return JSONResponse(json.loads(json.dumps(answer, default=str)))

    return AuditMiddleware(app, AuditLog(audit_path(settings.home)))


def _other_department(named: str) -> Refusal:
    return Refusal(
        403,
        "forbidden",
        f"令牌只能为本部门报送（请求指定了 {named[:40]}）",
        f"a token submits for its own department only (the request named {named[:40]})",
    )


async def _read_body(request: Request, limits: Limits, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limits)
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(limits.request_timeout_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limits)
                chunks.append(chunk)
    except TimeoutError:
        raise Refusal(
            408,
            "timeout",
            f"请求体未在 {limits.request_timeout_seconds:g} 秒内传完",
            f"the body did not arrive within {limits.request_timeout_seconds:g} s",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def _too_large(limits: Limits) -> Refusal:
    return Refusal(
        413,
        "too_large",
        f"超过大小上限 {limits.max_body_bytes} 字节",
        f"larger than the limit of {limits.max_body_bytes} bytes",
        headers={"Connection": "close"},
    )


def _malformed(en: str, zh: str) -> Refusal:
    return Refusal(400, "malformed", zh, en)


async def _unpack(
    request: Request, content_type: str, data: bytes, limits: Limits
) -> tuple[str, bytes, str | None]:
    """(the sender's file name, the file's bytes, a department the form named, if any)."""
    if content_type == "multipart/form-data":
        from starlette.datastructures import UploadFile
        from starlette.requests import Request as StarletteRequest

        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": data, "more_body": False}

        try:
            form = await StarletteRequest(request.scope, replay).form(max_files=1, max_fields=4)
        except Exception as exc:  # python-multipart's and Starlette's parse errors
            raise _malformed(
                f"malformed multipart body: {str(exc)[:200]}", "multipart 请求体格式错误"
            ) from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _malformed(
                "a multipart body needs one file field named 'file'", "multipart 需要名为 file 的文件字段"
            )
        payload = await upload.read()
        if len(payload) > limits.max_body_bytes:
            raise _too_large(limits)
        named = form.get("department")
        return upload.filename or "submission", payload, named if isinstance(named, str) else None
    if content_type in ("application/json", "text/json"):
        return request.headers.get("x-file-name") or "submission.json", data, None
    if content_type in (
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/octet-stream",
    ):
        name = request.headers.get("x-file-name")
        if not name:
            raise _malformed("a raw body needs the X-File-Name header", "原始请求体需要 X-File-Name 头")
        return name, data, None
    raise Refusal(
        415,
        "unsupported",
        "只接受 CSV、XLSX、JSON（multipart 的 file 字段，或原始请求体）",
        "only CSV, XLSX or JSON (a multipart 'file' field, or the raw body)",
    )


def _check_form(settings: Settings, sent_name: str, payload: bytes, department: str) -> str:
    """The file's extension once the body is known to be of its kind; refuses a malformed one."""
    extension = os.path.splitext(sent_name.replace("\\", "/").split("/")[-1])[1].lower()
    if extension not in EXTENSIONS:
        raise Refusal(
            415, "unsupported", "文件类型须为 .csv、.xlsx 或 .json", "the file must be .csv, .xlsx or .json"
        )
    if not payload.strip():
        raise _malformed("the body is empty", "请求体为空")
    if extension == ".xlsx":
        try:
            with zipfile.ZipFile(BytesIO(payload)) as archive:
                archive.getinfo("[Content_Types].xml")
        except (zipfile.BadZipFile, KeyError):
            raise _malformed("not an XLSX workbook", "不是 XLSX 工作簿") from None
    elif extension == ".json":
        try:
            document = json.loads(payload.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _malformed("not valid JSON (UTF-8)", "不是有效的 JSON（UTF-8）") from None
        if not isinstance(document, list | dict):
            raise _malformed(
                "JSON must be a list of records or {department, records}", "JSON 须为记录列表或对象"
            )
        declared = document.get("department") if isinstance(document, dict) else None
        if isinstance(declared, str):
            from ingest.reference import load_reference

            code = load_reference(settings).department_code(declared)
            if code != department:
                raise _other_department(declared)
    elif b"\0" in payload:
        raise _malformed("a CSV file has no NUL bytes", "CSV 文件不应含 NUL 字节")
    return extension
