"""A local implementation of the business API contract (`bot/business/openapi.yaml`) over
any `BusinessSystems`, for tests, benchmarks and manual tries of the HTTP backend.

It answers with the contract's wire format (`bot.business.wire`), checks the auth header,
records every request, and can be told to fail (503, 429 with Retry-After), stall or send
a broken reply for the next requests. Serve it in the caller's event loop (`serving`), in
a thread of its own (`running_in_thread`), or on its own over the demo backend:

    python -m bot.testing.business_api --port 8095 [--seed] [--auth-value "Bearer t"]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from bot.business import wire
from bot.business.protocol import BusinessSystems, BusinessSystemsError, BusinessSystemsUnavailable
from bot.business.records import CustomerRecord
from bot.testing.ports import free_port

STARTUP_SECONDS = 20.0
Limit = Annotated[int, Query(ge=1, le=100)]
_CODES = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 405: "not_allowed"}


@dataclass(frozen=True)
class RecordedRequest:
    """A request as it arrived (header names in lower case)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Fault:
    status: int | None = None
    delay_seconds: float = 0.0
    body: bytes | None = None
    retry_after: str | None = None


class BusinessApiControl:
    """What a test sets up (failures, stalls, broken replies) and observes (requests).

    Thread-safe: the server may run in another thread than the test.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: deque[_Fault] = deque()

    def fail_next(self, count: int, *, status: int = 503, retry_after: str | None = None) -> None:
        """Answer the next `count` requests with `status` (and a Retry-After header if given)."""
        self._add(count, _Fault(status=status, retry_after=retry_after))

    def delay_next(self, count: int, seconds: float) -> None:
        """Hold the next `count` requests for `seconds` before answering them."""
        self._add(count, _Fault(delay_seconds=seconds))

    def garble_next(self, count: int, body: bytes = b'{"ref": ') -> None:
        """Answer the next `count` requests 200 with `body` (broken JSON unless told)."""
        self._add(count, _Fault(body=body))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the requests so far and any fault not yet served."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def _add(self, count: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * count)

    def arrived(self, request: RecordedRequest) -> _Fault | None:
        """Record a request; the fault to serve it with, if one is due (the server calls it)."""
        with self._lock:
            self._requests.append(request)
            return self._faults.popleft() if self._faults else None


def create_app(
    backend: BusinessSystems,
    *,
    auth_header: str = "Authorization",
    auth_value: str = "",
    control: BusinessApiControl | None = None,
) -> FastAPI:
    """The contract's resources over `backend`; `auth_value` empty: no credentials checked."""
    app = FastAPI(title="business API (local)", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.control = control or BusinessApiControl()
    _add_guards(app, auth_header=auth_header, auth_value=auth_value)
    _add_lookups(app, backend)
    _add_refunds(app, backend)
    return app


def _add_guards(app: FastAPI, *, auth_header: str, auth_value: str) -> None:
    control: BusinessApiControl = app.state.control

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[..., Awaitable[Response]]) -> Response:
        fault = control.arrived(
            RecordedRequest(
                method=request.method,
                path=request.scope["raw_path"].decode("latin-1"),
                query=request.url.query,
                headers={name.lower(): value for name, value in request.headers.items()},
            )
        )
        if b"%2f" in request.scope["raw_path"].lower():
            # Routing sees the decoded path, where an escaped slash would start a new
            # segment: no ref here holds a slash, so there is no such record.
            return _error(404, "not_found", "no such record")
        given = request.headers.get(auth_header, "")
        if auth_value and not secrets.compare_digest(given.encode(), auth_value.encode()):
            return _error(401, "unauthorized", "missing or wrong credentials")
        if fault is not None:
            await asyncio.sleep(fault.delay_seconds)
            if fault.body is not None:
                return Response(fault.body, media_type="application/json")
            if fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                return _error(fault.status, "injected", "failure asked for by the test", headers)
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        code = _CODES.get(error.status_code, "error")
        return _error(error.status_code, code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        where = ", ".join(".".join(str(part) for part in e["loc"]) for e in error.errors()[:3])
        return _error(400, "invalid_request", f"invalid: {where}")

    @app.exception_handler(BusinessSystemsUnavailable)
    async def unavailable(request: Request, error: BusinessSystemsUnavailable) -> Response:
        return _error(503, "unavailable", str(error))


def _add_lookups(app: FastAPI, backend: BusinessSystems) -> None:
    @app.get("/customers")
    async def find_customers(phone: str | None = None, email: str | None = None) -> Response:
        if (phone is None) == (email is None):
            return _error(400, "invalid_request", "give exactly one of phone or email")
        # The Protocol answers the one match only; that is all the assistant uses.
        found = await (
            backend.customer_by_phone(phone) if phone else backend.customer_by_email(email or "")
        )
        return _json(wire.dump_items([found] if found else []))

    @app.get("/customers/{customer_ref}")
    async def get_customer(customer_ref: str) -> Response:
        return _one(await backend.customer(customer_ref), "customer")

    async def known(customer_ref: str) -> CustomerRecord:
        found = await backend.customer(customer_ref)
        if found is None:
            raise HTTPException(404, "no such customer")
        return found

    @app.get("/customers/{customer_ref}/orders")
    async def list_orders(customer_ref: str, limit: Limit = 10) -> Response:
        await known(customer_ref)
        return _json(wire.dump_items(await backend.orders(customer_ref, limit=limit)))

    @app.get("/customers/{customer_ref}/accounts")
    async def list_accounts(customer_ref: str) -> Response:
        await known(customer_ref)
        return _json(wire.dump_items(await backend.accounts(customer_ref)))

    @app.get("/customers/{customer_ref}/payments")
    async def list_payments(customer_ref: str, limit: Limit = 10) -> Response:
        await known(customer_ref)
        return _json(wire.dump_items(await backend.payments(customer_ref, limit=limit)))

    @app.get("/customers/{customer_ref}/refunds")
    async def list_refunds(customer_ref: str, limit: Limit = 20) -> Response:
        await known(customer_ref)
        return _json(wire.dump_items(await backend.refunds(customer_ref, limit=limit)))

    @app.get("/orders/{order_ref}")
    async def get_order(order_ref: str) -> Response:
        return _one(await backend.order(order_ref), "order")

    @app.get("/shipments/{shipment_ref}")
    async def get_shipment(shipment_ref: str) -> Response:
        return _one(await backend.shipment(shipment_ref), "shipment")

    @app.get("/accounts/{account_ref}/transactions")
    async def list_transactions(account_ref: str, limit: Limit = 10) -> Response:
        # The Protocol cannot tell an unknown account from an empty one: both are [].
        return _json(wire.dump_items(await backend.transactions(account_ref, limit=limit)))

    @app.get("/payments/{payment_ref}")
    async def get_payment(payment_ref: str) -> Response:
        return _one(await backend.payment(payment_ref), "payment")


def _add_refunds(app: FastAPI, backend: BusinessSystems) -> None:
    @app.post("/refunds")
    async def request_refund(
        request: Request, idempotency_key: Annotated[str, Header(min_length=1, max_length=200)]
    ) -> Response:
        try:
            refund_request = wire.load_refund_request(await request.body(), idempotency_key)
        except wire.WireError as error:
            return _error(400, "invalid_request", str(error))
        try:
            refund = await backend.request_refund(refund_request)
        except BusinessSystemsUnavailable:
            raise
        except BusinessSystemsError as error:
            return _error(422, "refused", str(error))
        return _json(wire.dump(refund), status=201)

    @app.post("/refunds/{refund_ref}/decision")
    async def decide_refund(refund_ref: str, request: Request) -> Response:
        try:
            decision = wire.load(wire.RefundDecision, await request.body())
        except wire.WireError as error:
            return _error(400, "invalid_request", str(error))
        try:
            refund = await backend.decide_refund(
                refund_ref, approved=decision.approved, decided_by=decision.decided_by
            )
        except BusinessSystemsUnavailable:
            raise
        except BusinessSystemsError as error:
            # The Protocol says "cannot" without saying why (unknown, or decided already).
            return _error(409, "conflict", str(error))
        return _json(wire.dump(refund))


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def _one(record: object | None, what: str) -> Response:
    if record is None:
        return _error(404, "not_found", f"no such {what}")
    return _json(wire.dump(record))


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(wire.error_body(code, detail), status_code=status, headers=headers)


# -- running it ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessApi:
    """A running contract server: where it is, and its control."""

    base_url: str
    control: BusinessApiControl


def _server(app: FastAPI, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        # Stalled requests are cut on the way out rather than waited for.
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


@asynccontextmanager
async def serving(
    backend: BusinessSystems, *, port: int | None = None, **options: Any
) -> AsyncIterator[BusinessApi]:
    """The contract server over `backend` on loopback, in this event loop, for the block.

    `options` go to `create_app` (auth_header, auth_value, control).
    """
    port = port or free_port()
    app = create_app(backend, **options)
    server = _server(app, port)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            while not server.started:
                if task.done():
                    task.result()  # it failed to start: say why
                await asyncio.sleep(0.02)
        yield BusinessApi(f"http://127.0.0.1:{port}", app.state.control)
    finally:
        server.should_exit = True
        await task


@contextmanager
def running_in_thread(
    make_backend: Callable[[], Awaitable[BusinessSystems]],
    *,
    port: int | None = None,
    **options: Any,
) -> Iterator[BusinessApi]:
    """The contract server in a thread with its own event loop, for synchronous callers.

    The backend is made (and closed) in that loop by `make_backend`: database engines and
    HTTP clients belong to the loop they were first used in.
    """
    port = port or free_port()
    started = threading.Event()
    running: dict[str, Any] = {}

    async def main() -> None:
        backend = await make_backend()
        try:
            app = create_app(backend, **options)
            server = running["server"] = _server(app, port)
            running["control"] = app.state.control
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    break  # it failed to start: the caller is told below
                await asyncio.sleep(0.02)
            started.set()
            await task
        finally:
            started.set()
            await backend.aclose()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    server: uvicorn.Server | None = None
    if started.wait(STARTUP_SECONDS):
        server = running.get("server")
    if server is None or not server.started:
        raise RuntimeError(f"the business API did not start on port {port}")
    try:
        yield BusinessApi(f"http://127.0.0.1:{port}", running["control"])
    finally:
        server.should_exit = True
        thread.join(STARTUP_SECONDS)


async def _serve_demo(args: argparse.Namespace) -> None:
    # Imported here: only this entry point needs the demo backend and the settings.
    from bot.business.demo.backend import DemoBusinessSystems
    from bot.business.demo.seed import seed
    from bot.core.settings import Settings

    settings = Settings()
    database_url = args.database_url or settings.effective_business_database_url
    backend = DemoBusinessSystems(database_url)
    try:
        await backend.create_tables()
        if args.seed and await backend.is_empty():
            await seed(backend)
        auth_value = args.auth_value
        if auth_value is None:
            auth_value = settings.business_api_auth_value.get_secret_value()
        app = create_app(
            backend,
            auth_header=args.auth_header or settings.business_api_auth_header,
            auth_value=auth_value,
        )
        print(f"business API on http://{args.host}:{args.port} over {database_url}", flush=True)
        await uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port)).serve()
    finally:
        await backend.aclose()


def main(argv: list[str] | None = None) -> None:
    """Serve the contract over the demo backend until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bot.testing.business_api")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--database-url", default="", help="default: the demo backend's")
    parser.add_argument("--seed", action="store_true", help="seed the demo data if empty")
    parser.add_argument("--auth-header", default="", help="default: BUSINESS_API_AUTH_HEADER")
    parser.add_argument(
        "--auth-value", default=None, help='default: BUSINESS_API_AUTH_VALUE; "" checks none'
    )
    asyncio.run(_serve_demo(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
