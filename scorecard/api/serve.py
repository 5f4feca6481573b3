"""``scorecard serve``: the submission API on uvicorn (127.0.0.1:8400 by default).

The socket is bound here before uvicorn starts, so ``--port 0`` (any free port, for tests) works
and the first line printed names the real address: ``listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import os
import socket


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=os.environ.get("SCORECARD_API_HOST") or "127.0.0.1",
        help="address to listen on (SCORECARD_API_HOST, default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("SCORECARD_API_PORT") or 8400),
        help="port (SCORECARD_API_PORT, default 8400; 0: any free port)",
    )
    parser.add_argument(
        "--openapi",
        action="store_true",
        help="print the OpenAPI document and exit (docs/openapi.json is this output)",
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from scorecard.api.app import create_app
    from scorecard.core.settings import get_settings

    settings = get_settings()
    if args.openapi:
        import json

        from scorecard.api.app import openapi_document

        print(json.dumps(openapi_document(settings), ensure_ascii=False, indent=2))
        return 0
    settings.ensure_dirs()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    sock.set_inheritable(True)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(settings),
        log_level=os.environ.get("SCORECARD_API_LOG_LEVEL") or "warning",
        server_header=False,
        proxy_headers=False,
        limit_concurrency=128,  # connections beyond it get 503 before any of our code runs
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"listening on http://{shown}:{port}", flush=True)
    server.run(sockets=[sock])
    return 0
