"""Mint API keys: `python -m quantumfinance_serving.keys new <key_id>`.

The key is printed once; only its SHA-256 goes into QF_API_KEYS, so a leaked config leaks no key.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import secrets
import sys

KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def hash_key(api_key: str) -> str:
    """SHA-256 hex digest of a plain API key (what QF_API_KEYS stores)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key(key_id: str) -> tuple[str, str]:
    """A fresh random key and its `key_id:sha256hex` config entry."""
    if not KEY_ID.match(key_id):
        raise ValueError(f"key id {key_id!r} must match {KEY_ID.pattern}")
    api_key = f"qf_{secrets.token_urlsafe(32)}"
    return api_key, f"{key_id}:{hash_key(api_key)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantumfinance_serving.keys")
    sub = parser.add_subparsers(dest="command", required=True)
    mint = sub.add_parser("new", help="mint a key; prints it once with its QF_API_KEYS entry")
    mint.add_argument("key_id")
    hashed = sub.add_parser("hash", help="print the QF_API_KEYS entry of an existing key (stdin)")
    hashed.add_argument("key_id")
    args = parser.parse_args(argv)
    if args.command == "new":
        try:
            api_key, entry = new_key(args.key_id)
        except ValueError as exc:
            parser.error(str(exc))
        sys.stdout.write(
            f"API key (shown once, store it now): {api_key}\n"
            f"Config entry (append to QF_API_KEYS, comma separated): {entry}\n"
        )
    else:
        sys.stdout.write(f"{args.key_id}:{hash_key(sys.stdin.readline().strip())}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
