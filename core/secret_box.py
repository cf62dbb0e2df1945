"""Encryption at rest for secrets we must be able to read back (webhook signing secrets).

API keys are only ever compared, so they are stored hashed; a webhook secret has to sign every
delivery, so it is stored sealed with AES-256-GCM instead. A copy of the state DB (a backup, a file
shared for debugging) then does not hand out the secrets CEM receivers trust.

The key comes from `OPMON_SECRET_KEY` (32 bytes, urlsafe base64; put it in a secrets manager for real
separation) or, as the zero-setup default, from a key file created once next to the data
(`DATA_DIR/secret.key`, mode 0600). Each value is bound to its row (the AES-GCM associated data), so a
sealed secret copied onto another webhook does not open.

    box = SecretBox.from_settings(settings)
    stored = box.seal("whsec_...", context="wh_1a2b")
    box.open(stored, context="wh_1a2b")  # -> "whsec_..."
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.settings import Settings

PREFIX = "enc1:"  # a stored value without it is a plaintext row written before encryption existed
KEY_BYTES = 32
NONCE_BYTES = 12


def new_key() -> str:
    """A fresh key in the form OPMON_SECRET_KEY takes."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as e:
        raise ConfigError(f"{origin} is not urlsafe base64 (make one with `opmon webhooks new-key`)") from e
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{origin} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, creating it (mode 0600) when missing.

    The file appears complete or not at all (written aside, then hard-linked into place), so two
    processes starting at once agree on one key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key() + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process won: use its key
        finally:
            aside.unlink()
    return decode_key(path.read_text(encoding="ascii"), f"secret key file {path}")


class SecretBox:
    def __init__(self, key: bytes):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != KEY_BYTES:
            raise ConfigError(f"the secret key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secret_key is not None:
            return cls(decode_key(settings.secret_key.get_secret_value(), "OPMON_SECRET_KEY"))
        return cls(load_or_create_key_file(settings.secret_key_path))

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(PREFIX)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, *, context: str) -> str:
        """The plaintext of a sealed value; a legacy plaintext value is returned as it is."""
        from cryptography.exceptions import InvalidTag

        if not self.is_sealed(stored):
            return stored
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX):].encode("ascii"))
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError) as e:
            raise ConfigError(
                f"the stored secret of {context} does not open with this key: OPMON_SECRET_KEY (or the key "
                "file) is not the one it was sealed with") from e
