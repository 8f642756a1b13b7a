"""Model blobs on S3, under keys that are never reused."""

from __future__ import annotations

import uuid
from typing import Any

from decider.store.aws import AwsStore


class S3ModelStore(AwsStore):
    service = "s3"

    def __init__(self, bucket: str, client: Any = None) -> None:
        super().__init__(client)
        self._bucket = bucket

    def put(self, decision_point: str, version: int, blob: bytes) -> str:
        # A unique suffix: a retrain that loses a race never overwrites the winner's blob.
        key = f"models/{decision_point}/{version:08d}-{uuid.uuid4().hex}.vw"
        self.client.put_object(Bucket=self._bucket, Key=key, Body=blob)
        return key

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body
