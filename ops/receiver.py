"""A webhook receiver for the demo and the fault tests: what a CEM system does with our alerts.

It checks the signature (HMAC-SHA256 over "{timestamp}.{body}", alerts/signing.py), answers 401 to a
bad one, dedupes by `Idempotency-Key` (deliveries are at-least-once) and appends each new event as one
JSON line to a file. `down` makes it refuse deliveries with 503 (a receiver outage).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from alerts.signing import EVENT_TYPE_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, is_valid

log = logging.getLogger(__name__)


class WebhookReceiver:
    def __init__(self, out_file: Path, secret: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 tolerance_s: int = 10**9):
        self.out_file = Path(out_file)
        self.out_file.parent.mkdir(parents=True, exist_ok=True)
        self.secret = secret
        self.tolerance_s = tolerance_s  # simulated clocks sign with old timestamps: tests widen it
        self.down = False
        self.attempts = 0
        self.duplicates = 0
        self.rejected = 0
        self.events: list[dict] = []
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = rx.receive(body, self.headers)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, fmt, *args):
                log.debug("receiver: " + fmt, *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/opmon"

    def receive(self, body: bytes, headers) -> int:
        with self._lock:
            self.attempts += 1
            if self.down:
                return 503
            if self.secret and not is_valid(self.secret, body, headers.get(SIGNATURE_HEADER, ""),
                                            tolerance_s=self.tolerance_s):
                self.rejected += 1
                return 401
            key = headers.get(IDEMPOTENCY_HEADER) or ""
            if key in self._keys:
                self.duplicates += 1  # already processed: acknowledge, do nothing
                return 200
            self._keys.add(key)
            try:
                event = json.loads(body)
            except ValueError:
                event = {"raw": body.decode("utf-8", "replace")}
            record = {"idempotency_key": key, "event_type": headers.get(EVENT_TYPE_HEADER), "event": event}
            self.events.append(record)
            with self.out_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            return 200

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
