"""Webhook signing secrets are sealed at rest: the state DB never holds them in plaintext, deliveries
are still signed with the real secret, old plaintext rows are sealed on open, and a wrong key fails
loudly instead of signing with garbage."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from alerts.outbox import Outbox
from alerts.signing import SIGNATURE_HEADER, verify
from alerts.webhook_worker import deliver_due
from core.errors import ConfigError
from core.secret_box import SecretBox, decode_key, load_or_create_key_file, new_key
from core.settings import Settings, get_settings
from store.sqlite_db import StateDB

SECRET = "whsec_" + "k" * 40


def _raw_secrets(path) -> dict[str, str]:
    with sqlite3.connect(path) as c:
        return dict(c.execute("SELECT id, secret FROM webhooks").fetchall())


@pytest.fixture
def db(settings) -> StateDB:
    return StateDB(settings.state_db)


def test_secret_is_not_stored_in_plaintext_and_reads_back(settings, db):
    hook = Outbox(db, settings).add_webhook("http://127.0.0.1:9/hook", secret=SECRET)

    raw = _raw_secrets(settings.state_db)[hook.id]
    assert raw.startswith("enc1:") and SECRET not in raw and "kkkk" not in raw
    assert SECRET.encode() not in settings.state_db.read_bytes()
    assert Outbox(db, settings).webhook(hook.id).secret == SECRET  # a new process reads it back


def test_key_file_is_created_private_and_reused(settings, db):
    Outbox(db, settings).add_webhook("http://127.0.0.1:9/hook", secret=SECRET)
    path = settings.secret_key_path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text()
    assert load_or_create_key_file(path) == decode_key(first, "file")  # not regenerated
    assert not list(path.parent.glob(".secret.key.*"))  # no leftovers from the atomic create


def test_delivery_is_signed_with_the_real_secret(settings, db):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outbox = Outbox(db, settings)
        outbox.add_webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", events=["*"], secret=SECRET)
        outbox.enqueue("webhook.test", {"hello": "世界"}, "k1")
        assert deliver_due(Outbox(db, settings)).delivered == 1
    finally:
        server.shutdown()
        server.server_close()
    headers, body = received[0]
    verify(SECRET, body, headers[SIGNATURE_HEADER])  # raises unless signed with the plaintext secret


def test_legacy_plaintext_rows_are_sealed_on_open(settings, db):
    Outbox(db, settings)  # creates the tables
    with sqlite3.connect(settings.state_db) as c:  # a row as versions before sealing wrote it
        c.execute("INSERT INTO webhooks(id, url, secret, events, description, created_at) "
                  "VALUES ('wh_old', 'http://127.0.0.1:9/h', ?, '[\"*\"]', NULL, '2026-01-01T00:00:00Z')", (SECRET,))

    outbox = Outbox(db, settings)
    assert _raw_secrets(settings.state_db)["wh_old"].startswith("enc1:")
    assert outbox.webhook("wh_old").secret == SECRET


def test_a_different_key_fails_loudly(settings, db, monkeypatch):
    hook = Outbox(db, settings).add_webhook("http://127.0.0.1:9/hook", secret=SECRET)
    monkeypatch.setenv("OPMON_SECRET_KEY", new_key())
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="not the one it was sealed with"):
        Outbox(db, get_settings()).webhook(hook.id)


def test_a_sealed_secret_moved_to_another_row_does_not_open(settings, db):
    outbox = Outbox(db, settings)
    a = outbox.add_webhook("http://127.0.0.1:9/a", secret=SECRET)
    b = outbox.add_webhook("http://127.0.0.1:9/b", secret="other-secret-" + "x" * 20)
    with sqlite3.connect(settings.state_db) as c:
        c.execute("UPDATE webhooks SET secret = (SELECT secret FROM webhooks WHERE id = ?) WHERE id = ?", (a.id, b.id))
    with pytest.raises(ConfigError):
        outbox.webhook(b.id)


@pytest.mark.parametrize("bad", ["not base64!!", "c2hvcnQ="])
def test_a_malformed_key_setting_is_a_config_error(bad, tmp_path):
    with pytest.raises(ConfigError, match="OPMON_SECRET_KEY"):
        SecretBox.from_settings(Settings(data_dir=tmp_path, secret_key=bad))


def test_reseal_rotates_to_a_new_key(settings, db, monkeypatch):
    from api.cli import webhooks

    hook = Outbox(db, settings).add_webhook("http://127.0.0.1:9/hook", secret=SECRET)
    before = _raw_secrets(settings.state_db)[hook.id]
    key = new_key()
    result = CliRunner().invoke(webhooks, ["reseal"], env={"OPMON_NEW_SECRET_KEY": key})
    assert result.exit_code == 0, result.output
    assert "resealed 1" in result.output and key not in result.output

    after = _raw_secrets(settings.state_db)[hook.id]
    assert after != before and after.startswith("enc1:")
    monkeypatch.setenv("OPMON_SECRET_KEY", key)
    get_settings.cache_clear()
    assert Outbox(db, get_settings()).webhook(hook.id).secret == SECRET
