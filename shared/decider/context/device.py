"""Device type and operating system from the user agent, with a maintained parser."""

from __future__ import annotations

import re
from functools import lru_cache

from user_agents import parse


@lru_cache(maxsize=8192)
def device_of(user_agent: str) -> dict[str, str]:
    """``device`` (bot, tablet, mobile, desktop) when the parser can tell, and ``os``."""
    agent = parse(user_agent)
    found: dict[str, str] = {}
    if agent.is_bot:
        found["device"] = "bot"
    elif agent.is_tablet:
        found["device"] = "tablet"
    elif agent.is_mobile:
        found["device"] = "mobile"
    elif agent.is_pc:
        found["device"] = "desktop"
    os_family = agent.os.family
    if os_family and os_family != "Other":
        found["os"] = re.sub(r"[^a-z0-9]+", "_", os_family.lower()).strip("_")
    return found
