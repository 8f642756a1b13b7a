"""The dashboard: one static page (dashboard.html) that draws a decision point's report and
serves an older version with a click. It reads the operator routes, so it holds no data."""

from __future__ import annotations

from importlib.resources import files

PAGE = files("decider.control").joinpath("dashboard.html").read_text(encoding="utf-8")
