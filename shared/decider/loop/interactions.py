"""Interactions build visitors' profiles; a link makes an anonymous id read a known one's.

Every id is stored as its keyed hash. A known visitor's item holds their profile and lists
the ids linked to it; each linked id's item holds a copy, refreshed by every update, so that
decide reads any id's profile in one read. Every write is conditional (on the item's version,
or for a copy on the version it copies): concurrent batches retry, none is lost.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from decider.context import profiles
from decider.context.profiles import Event, Profile
from decider.errors import DeciderError, InvalidRequest
from decider.loop.events import FUTURE_SKEW
from decider.privacy import UserHasher
from decider.records import DecisionRecord, ProfileStore, StoredProfile
from decider.schemas import Interaction, InteractionsResponse, LinkResponse

logger = logging.getLogger(__name__)
ATTEMPTS = 8
# Ids linked to one person: each update refreshes their copies, and erasure finds them all.
MAX_LINKED = 50
MAX_HOPS = 4  # links followed to a person's profile (a link is repointed to the person)
MAX_PERSON_IDS = 1000  # ids a person's export or erasure gathers


class TooManyLinks(DeciderError):
    status = 409
    code = "too_many_links"


class Contended(DeciderError):
    """A profile was written by others on every attempt: the caller should send it again."""

    status = 503
    code = "contended"


@dataclass
class Profiles:
    store: ProfileStore
    users: UserHasher
    half_life_days: float = 30.0
    retention: timedelta = timedelta(days=365)

    def of(self, visitor_hash: str) -> Profile | None:
        """What decide reads: one read, a linked id's copy included."""
        item = self.store.read(visitor_hash)
        return profiles.from_json(item.body) if item is not None else None

    def of_many(self, visitor_hashes: Collection[str]) -> dict[str, Profile]:
        """What a batch of decisions reads: every visitor's profile, in a few reads."""
        found = self.store.read_many(visitor_hashes)
        return {visitor: profiles.from_json(item.body) for visitor, item in found.items()}

    def record(self, interactions: Sequence[Interaction], now: datetime) -> InteractionsResponse:
        """Add interactions to their visitors' profiles, one write per visitor."""
        by_visitor: dict[str, list[Event]] = defaultdict(list)
        skipped = 0
        for index, interaction in enumerate(interactions):
            # One interaction dated ahead would move the profile's reference far on and make
            # everything real worth nothing next to it.
            if interaction.at is not None and interaction.at > now + FUTURE_SKEW:
                raise InvalidRequest(
                    f"interactions.{index}.at: in the future", field=f"interactions.{index}.at"
                )
        for interaction in interactions:
            if interaction.consent != "personal":
                skipped += 1
                continue
            by_visitor[interaction.visitor].append(_event(interaction, now))
        recorded = duplicate = 0
        for visitor, events in by_visitor.items():
            added = self.update(
                self.users.hash(visitor),
                lambda p, e=events: profiles.with_events(p, e, self.half_life_days),  # type: ignore[misc]
                now,
                count=lambda before, after, e=events: _new_events(before, after, e),  # type: ignore[misc]
            )
            recorded += added
            duplicate += len(events) - added
        return InteractionsResponse(
            recorded=recorded, duplicate=duplicate, skipped=skipped, visitors=len(by_visitor)
        )

    def shown(self, shown: Iterable[tuple[str, profiles.Shown]], now: datetime) -> int:
        """Record actions shown to visitors (visitor hash, what was shown): the profile's
        fatigue and contacts, each decision counted once. One write per visitor, and only
        to a profile that exists: a person erased meanwhile is not brought back."""
        by_visitor: dict[str, list[profiles.Shown]] = defaultdict(list)
        for visitor_hash, entry in shown:
            by_visitor[visitor_hash].append(entry)
        # Most visitors decided for have no profile: found together, they cost no write.
        having = self.store.read_many(list(by_visitor))
        updated = 0
        for visitor_hash, entries in by_visitor.items():
            if visitor_hash not in having:
                continue
            updated += self.update(
                visitor_hash,
                lambda p, e=entries: profiles.with_shown(p, e, self.half_life_days),  # type: ignore[misc]
                now,
                create=False,
            )
        return updated

    def record_shown(
        self, decisions: Iterable[tuple[str, DecisionRecord]], now: datetime
    ) -> tuple[int, list[str]]:
        """Count decisions shown (each with its key, e.g. its stream sequence number) in their
        visitors' profiles: how many visitors, and the keys of the decisions whose visitor's
        write failed (to be handed again; counted once whenever they come)."""
        by_visitor: dict[str, list[tuple[str, profiles.Shown]]] = defaultdict(list)
        for key, record in decisions:
            if record.user_hash is None or not record.activated:
                continue
            channel = record.features.context.get("channel")
            shown = profiles.Shown(
                record.decision_point,
                record.chosen_action,
                record.decided_at.timestamp(),
                channel if isinstance(channel, str) else None,
                record.event_id,
            )
            by_visitor[record.user_hash].append((key, shown))
        failed: list[str] = []
        for visitor_hash, entries in by_visitor.items():
            try:
                self.shown([(visitor_hash, shown) for _, shown in entries], now)
            except Exception:
                logger.exception("a visitor's shown actions were not recorded")
                failed.extend(key for key, _ in entries)
        return len(by_visitor), failed

    def update(
        self,
        visitor_hash: str,
        change: Callable[[Profile], Profile],
        now: datetime,
        count: Callable[[Profile, Profile], int] | None = None,
        create: bool = True,
    ) -> int:
        """Apply ``change`` to the profile ``visitor_hash`` reads (its own, or the known
        visitor's it is linked to) and refresh the copies; what ``count`` says it added.
        Without ``create``, a visitor with no profile is left without one (0)."""
        for _ in range(ATTEMPTS):
            holder = self._holder(visitor_hash)
            if holder is None and not create:
                return 0
            target = holder or StoredProfile(visitor_hash, profiles.to_json(Profile()))
            before = profiles.from_json(target.body)
            after = change(before)
            added = count(before, after) if count is not None else 1
            if after == before:
                return 0
            written = dataclasses.replace(target, body=profiles.to_json(after), linked_to=None)
            if self.store.write(written, self._expires(now)):
                self._copy(written, written.version + 1, now)
                return added
        raise _busy(visitor_hash)

    def _holder(self, visitor_hash: str) -> StoredProfile | None:
        """The item that holds the profile ``visitor_hash`` reads: its own, or the one of the
        person it is linked to (followed through an id linked in turn). A link whose person's
        profile expired makes the id its own again."""
        item = self.store.read(visitor_hash)
        for _ in range(MAX_HOPS):
            if item is None or item.linked_to is None:
                return item
            known = self.store.read(item.linked_to)
            if known is None:
                return dataclasses.replace(item, linked_to=None, source_version=0)
            item = known
        assert item is not None
        if item.linked_to is not None:  # a chain longer than links make: never rebuilt here
            raise _busy(visitor_hash)
        return item  # the person's whole item: its linked ids with it

    def link(self, anonymous: str, known: str, now: datetime) -> LinkResponse:
        """Make ``anonymous`` read ``known``'s profile, its history merged into it."""
        anonymous_hash = self.users.hash(anonymous)
        person = self._holder(self.users.hash(known))
        known_hash = person.visitor if person is not None else self.users.hash(known)
        if known_hash == anonymous_hash:
            return LinkResponse(status="already_linked", linked_ids=0)
        if person is None:  # the person's item first: a link never points at nothing
            self.store.write(
                StoredProfile(known_hash, profiles.to_json(Profile())), self._expires(now)
            )
        for _ in range(ATTEMPTS):
            mine = self.store.read(anonymous_hash)
            target = self.store.read(known_hash)
            listed = target is not None and anonymous_hash in target.aliases
            # Ids linked to this one (it was someone's known id) follow it to the person; the
            # id keeps them listed until they do, so a link cut short and sent again ends it.
            followers: tuple[str, ...] = ()
            if mine is not None and mine.linked_to in (None, known_hash):
                followers = mine.aliases
            if mine is not None and mine.linked_to == known_hash and target and listed:
                for follower in followers:
                    self._repoint(follower, anonymous_hash, target, now)
                return LinkResponse(status="already_linked", linked_ids=len(target.aliases))
            relinked = mine is not None and mine.linked_to not in (None, known_hash)
            if relinked:
                assert mine is not None and mine.linked_to is not None
                self._unlist(mine.linked_to, anonymous_hash, now)
            # First the id becomes a link (its own history kept in the item until merged), so
            # that its interactions from now on go to the known profile. What a relinked id did
            # stays with the person it was linked to.
            if mine is None or mine.linked_to != known_hash:
                kept = mine is not None and not relinked
                own = mine.body if mine is not None and kept else profiles.to_json(Profile())
                # Refused before the id becomes a link, not half made after it.
                linked = {*(target.aliases if target else ()), anonymous_hash, *followers}
                if len(linked) > MAX_LINKED:
                    raise TooManyLinks(
                        f"a person has at most {MAX_LINKED} ids linked (cookies, app installs)"
                    )
                pointer = StoredProfile(
                    anonymous_hash,
                    own,
                    mine.version if mine else 0,
                    linked_to=known_hash,
                    aliases=followers,
                )
                if not self.store.write(pointer, self._expires(now)):
                    continue
                mine = pointer
            merged = self._merge_into(
                known_hash, (anonymous_hash, *followers), profiles.from_json(mine.body), now
            )
            if merged.visitor != known_hash:  # the person was linked on meanwhile: follow
                self._repoint(anonymous_hash, known_hash, merged, now)
            for follower in followers:
                self._repoint(follower, anonymous_hash, merged, now)
            return LinkResponse(
                status="relinked" if relinked else "linked", linked_ids=len(merged.aliases)
            )
        raise Contended("the visitor's profile is busy; send the link again")

    def _merge_into(
        self, known_hash: str, linked: tuple[str, ...], history: Profile, now: datetime
    ) -> StoredProfile:
        anonymous_hash = linked[0]
        for _ in range(ATTEMPTS):
            target = self.store.read(known_hash) or StoredProfile(
                known_hash, profiles.to_json(Profile())
            )
            if target.linked_to is not None:  # linked to someone else meanwhile: theirs now
                known_hash = target.linked_to
                continue
            if anonymous_hash in target.aliases:  # merged already (a retried link)
                self._copy(target, target.version, now)
                return target
            before = profiles.from_json(target.body)
            aliases = tuple(dict.fromkeys((*target.aliases, *linked)))
            if len(aliases) > MAX_LINKED:
                raise TooManyLinks(
                    f"a person has at most {MAX_LINKED} ids linked (cookies, app installs)"
                )
            written = dataclasses.replace(
                target,
                body=profiles.to_json(profiles.merged(before, history, self.half_life_days)),
                aliases=aliases,
            )
            if self.store.write(written, self._expires(now)):
                self._copy(written, written.version + 1, now)
                return written
        raise Contended("the known visitor's profile is busy; send the link again")

    def _repoint(self, follower: str, former: str, person: StoredProfile, now: datetime) -> None:
        """An id linked to ``former`` now reads ``person``'s profile."""
        for _ in range(ATTEMPTS):
            item = self.store.read(follower)
            if item is None or item.linked_to != former:
                return
            # A copy of the person's from now on: the version it copied is theirs, not its
            # former person's (whose copies it would otherwise go on refusing).
            pointer = dataclasses.replace(
                item, body=person.body, linked_to=person.visitor, source_version=0
            )
            if self.store.write(pointer, self._expires(now)):
                return

    def _unlist(self, known_hash: str, alias: str, now: datetime) -> None:
        for _ in range(ATTEMPTS):
            target = self.store.read(known_hash)
            if target is None or alias not in target.aliases:
                return
            kept = tuple(a for a in target.aliases if a != alias)
            if self.store.write(dataclasses.replace(target, aliases=kept), self._expires(now)):
                return

    def _copy(self, known: StoredProfile, version: int, now: datetime) -> None:
        for alias in known.aliases:
            copy = StoredProfile(alias, known.body, linked_to=known.visitor, source_version=version)
            self.store.write_copy(copy, self._expires(now))

    def person(self, hashes: Iterable[str]) -> tuple[Profile | None, set[str]]:
        """A person's profile and every id hash that reads it (theirs, under every key, and
        the ids linked to them)."""
        found: set[str] = set()
        body: Profile | None = None
        waiting = list(hashes)
        while waiting and len(found) < MAX_PERSON_IDS:
            visitor_hash = waiting.pop()
            if visitor_hash in found:
                continue
            item = self.store.read(visitor_hash)
            if item is None:
                continue
            found.add(visitor_hash)
            if item.linked_to is None:  # a profile of theirs (one per hash key): all merged
                found_body = profiles.from_json(item.body)
                body = (
                    found_body
                    if body is None
                    else profiles.merged(body, found_body, self.half_life_days)
                )
            else:
                waiting.append(item.linked_to)
            waiting.extend(item.aliases)
        return body, found

    def forget(self, hashes: Iterable[str]) -> tuple[int, set[str]]:
        """Delete a person's profile and links; how many items, and the ids they held."""
        _, found = self.person(hashes)
        return self.delete(found), found

    def delete(self, found: Collection[str]) -> int:
        """Delete the items of ids ``person`` found; how many there were."""
        return self.store.delete(found)

    def _expires(self, now: datetime) -> int:
        return int((now + self.retention).timestamp())


def _busy(visitor_hash: str) -> Contended:
    return Contended(f"the profile of {visitor_hash.split(':')[0]}:… is busy; send it again")


def _event(interaction: Interaction, now: datetime) -> Event:
    return Event(
        type=interaction.type,
        at=(interaction.at or now).timestamp(),
        item=interaction.item,
        category=interaction.category,
        channel=interaction.channel,
        value=interaction.value,
        id=interaction.interaction_id,
    )


def _new_events(before: Profile, after: Profile, events: list[Event]) -> int:
    """How many of ``events`` the update counted: all but those whose id was seen before
    (or twice in the batch)."""
    seen = set(before.seen_ids)
    counted = 0
    for event in events:
        if event.id is None:
            counted += 1
        elif profiles.seen_id(event.id) not in seen:
            seen.add(profiles.seen_id(event.id))
            counted += 1
    return counted


def readable(profile: Profile | None, now: datetime, half_life_days: float) -> dict[str, Any]:
    """A profile as its person may read it (the export)."""
    if profile is None:
        return {}
    return profiles.features(profile, now.timestamp(), half_life_days)
