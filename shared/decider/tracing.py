"""Powertools' Tracer, with the X-Ray SDK imported only when tracing is on.

Powertools builds its X-Ray provider (``aws_xray_sdk.core``, about 0.2 s of a cold start) in
every Tracer, traced or not. Off (``POWERTOOLS_TRACE_DISABLED``, or outside Lambda), the
functions' tracer gets a provider that records nothing, and the SDK stays unimported.
"""

from __future__ import annotations

import contextlib
import numbers
import traceback
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


def tracer() -> Tracer:
    """The function's tracer: X-Ray's when tracing is on, else one that records nothing."""
    if Tracer._is_tracer_disabled():
        return Tracer(provider=_Untraced(), disabled=False)
    return Tracer()


class _Segment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(
        self, exception: BaseException, stack: list[traceback.StackSummary], remote: bool = False
    ) -> None:
        pass


class _Untraced(BaseProvider):
    @contextlib.contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _Segment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(
        self, name: Any = None, **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield _Segment()

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass
