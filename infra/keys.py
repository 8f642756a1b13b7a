"""Server keys: make one, and rotate the stack's keys without downtime; and rotate the key
visitors' ids are hashed with (python -m infra.keys rotate-hash-key --secret-id <secret>).

    python -m infra.keys rotate --secret-id <ApiKeysSecretArn output>

prints a new key once (keep it: only its hash is stored) and puts its hash first in the
secret, keeping the newest other one: clients still sending the previous key go on working
until they switch, and a second rotation retires it. Against the local twin, set
AWS_ENDPOINT_URL to its moto server, or start the twin with --api-keys.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import boto3
from decider.http.keys import KEPT, PREFIX, key_hash, new_key, rotated


def rotate(secret_id: str, client: Any = None, keep: int = KEPT) -> str:
    """A new key whose hash now leads the secret's, with the newest ``keep - 1`` others."""
    secrets = client or boto3.client("secretsmanager")
    current = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    key = new_key()
    current["server"] = rotated(current.get("server", []), key_hash(key), keep)
    secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(current))
    return key


def rotate_hash_key(secret_id: str, client: Any = None) -> str:
    """A new key for hashing visitors' ids, keeping the old ones under "previous" (so a
    person's older decisions are still found); the new key's id."""
    secrets = client or boto3.client("secretsmanager")
    current = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    kept = [{"id": current["id"], "key": current["key"]}, *current.get("previous", [])]
    new_id = str(max(int(k["id"]) for k in kept) + 1)
    value = {"id": new_id, "key": new_key().removeprefix(PREFIX), "previous": kept}
    secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
    return new_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("new", help="print a new key and its hash (for a secret kept elsewhere)")
    rotating = commands.add_parser("rotate", help="add a new key to the stack's secret")
    rotating.add_argument("--secret-id", required=True)
    hashing = commands.add_parser("rotate-hash-key", help="a new key for visitors' ids")
    hashing.add_argument("--secret-id", required=True)
    args = parser.parse_args(argv)
    if args.command == "new":
        key = new_key()
        print(f"key:    {key}\nsha256: {key_hash(key)}")
    elif args.command == "rotate":
        print(rotate(args.secret_id))
    else:
        print(f"visitors' ids are now hashed with key {rotate_hash_key(args.secret_id)}")


if __name__ == "__main__":
    main()
