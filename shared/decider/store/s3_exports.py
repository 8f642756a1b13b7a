"""Exported logs on S3 (decider.control.export names the objects)."""

from __future__ import annotations

from typing import Any

from decider.store.aws import AwsStore


class S3ExportStore(AwsStore):
    service = "s3"

    def __init__(self, bucket: str, client: Any = None) -> None:
        super().__init__(client)
        self._bucket = bucket

    def put_text(self, key: str, text: str, content_type: str) -> None:
        self.client.put_object(
            Bucket=self._bucket, Key=key, Body=text.encode(), ContentType=content_type
        )
