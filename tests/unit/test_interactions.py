"""Profiles from interactions, with the in-memory store: what is recorded and counted once,
ids kept only as keyed hashes, an anonymous id linked to a known one (and read in one read),
a person forgotten with every id they used, and concurrent writers that lose nothing."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from decider.context import profiles
from decider.context.profiles import MAX_SEEN_IDS, Profile
from decider.control.users import erase
from decider.loop.interactions import MAX_LINKED, Contended, Profiles, TooManyLinks
from decider.privacy import HashKey, UserHasher
from decider.records import StoredProfile
from decider.schemas import MAX_INTERACTIONS, Interaction
from decider.store.memory import MemoryDecisionLog, MemoryProfileStore

from tests.integration.test_stores import record

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
AT = "2026-12-01T17:00:00Z"  # every interaction at one instant: counts are plain numbers
SECRET = b"secret"


def interaction(visitor: str, type: str = "view", **fields: Any) -> Interaction:
    return Interaction.model_validate({"visitor": visitor, "type": type, "at": AT, **fields})


@pytest.fixture
def store() -> MemoryProfileStore:
    return MemoryProfileStore()


@pytest.fixture
def users() -> UserHasher:
    return UserHasher(lambda: [HashKey("k1", SECRET)])


@pytest.fixture
def service(store: MemoryProfileStore, users: UserHasher) -> Profiles:
    return Profiles(store, users)


def profile(service: Profiles, visitor: str) -> Profile:
    found = service.of(service.users.hash(visitor))
    assert found is not None, f"{visitor} has no profile"
    return found


def views(service: Profiles, visitor: str) -> float:
    return profile(service, visitor).types.get("view", 0.0)


# --- recording ----------------------------------------------------------------------------------


def test_record_counts_what_it_recorded_skipped_and_saw_before(service: Profiles) -> None:
    # Given a first batch: two visitors with consent, two without
    first = service.record(
        [
            interaction("cookie-7f3a", item="boot-42", category="winter-boots", interaction_id="a"),
            interaction("cookie-7f3a", "click", interaction_id="b"),
            interaction("user-1042", "purchase", value=80.0, interaction_id="c"),
            interaction("cookie-9", consent="anonymous", interaction_id="d"),
            interaction("cookie-10", consent="none"),
        ],
        NOW,
    )
    assert (first.recorded, first.duplicate, first.skipped, first.visitors) == (3, 0, 2, 2)

    # When part of it is sent again, with something new
    again = service.record(
        [
            interaction("cookie-7f3a", item="boot-42", category="winter-boots", interaction_id="a"),
            interaction("cookie-7f3a", "add_to_cart", item="boot-42", interaction_id="e"),
            interaction("cookie-7f3a", "add_to_cart", item="boot-42", interaction_id="e"),
        ],
        NOW,
    )

    # Then what was seen before (or twice in the batch) is counted once
    assert (again.recorded, again.duplicate, again.skipped, again.visitors) == (1, 2, 0, 1)
    assert profile(service, "cookie-7f3a").types == {"view": 1.0, "click": 1.0, "add_to_cart": 1.0}
    assert profile(service, "user-1042").spend == 80.0


def test_a_batch_sent_again_changes_nothing(service: Profiles, store: MemoryProfileStore) -> None:
    batch = [interaction("cookie-7f3a", interaction_id=f"v-{n}") for n in range(20)]
    service.record(batch, NOW)
    stored = dict(store.items)

    again = service.record(batch, NOW)

    assert (again.recorded, again.duplicate) == (0, 20)
    assert store.items == stored


def test_a_retried_batch_of_many_interactions_for_one_visitor_counts_once(
    service: Profiles,
) -> None:
    # Given the largest batch the API takes, 500 views by one visitor, recorded
    batch = [interaction("cookie-7f3a", interaction_id=f"v-{n}") for n in range(MAX_INTERACTIONS)]
    service.record(batch, NOW)

    # When the same batch is retried
    again = service.record(batch, NOW)

    # Then nothing is counted twice, and the response says so
    assert views(service, "cookie-7f3a") == MAX_INTERACTIONS
    assert (again.recorded, again.duplicate) == (0, MAX_INTERACTIONS)
    assert MAX_SEEN_IDS >= MAX_INTERACTIONS


def test_interactions_without_personal_consent_store_nothing(
    service: Profiles, store: MemoryProfileStore
) -> None:
    result = service.record(
        [
            interaction("cookie-7f3a", consent="anonymous"),
            interaction("cookie-7f3a", consent="none"),
            interaction("user-1042", consent=False),
        ],
        NOW,
    )

    assert (result.recorded, result.skipped, result.visitors) == (0, 3, 0)
    assert store.items == {}


def test_an_interaction_without_a_time_happened_when_it_was_received(service: Profiles) -> None:
    service.record([Interaction.model_validate({"visitor": "cookie-7f3a", "type": "view"})], NOW)

    assert profile(service, "cookie-7f3a").last_seen == NOW.timestamp()


def test_a_visitor_never_seen_has_no_profile(service: Profiles, users: UserHasher) -> None:
    assert service.of(users.hash("nobody")) is None


def test_actions_shown_make_the_visitors_fatigue(service: Profiles, users: UserHasher) -> None:
    # Given a visitor with a profile
    service.record([interaction("cookie-7f3a")], NOW)
    visitor = users.hash("cookie-7f3a")
    when = datetime(2026, 12, 1, 17, 0, tzinfo=UTC).timestamp()

    # When two decisions showed them the boots (the stream hands the first one twice)
    first = profiles.Shown("home", "boots", when, "web", "home:e-1")
    second = profiles.Shown("home", "boots", when, None, "home:e-2")
    updated = service.shown([(visitor, first), (visitor, second), (visitor, first)], NOW)

    # Then each counts once toward the fatigue, and the web contact toward a frequency cap
    assert updated == 1
    found = profiles.fatigue(
        profile(service, "cookie-7f3a"), "home", ["boots", "hats"], NOW.timestamp(), 30.0
    )
    assert found == [{"times_shown": 2.0, "hours_since_shown": 1.0}, {}]
    assert profile(service, "cookie-7f3a").contacts_since("web", when) == 1


def test_what_was_shown_never_makes_a_profile_for_a_visitor_who_has_none(
    service: Profiles, users: UserHasher, store: MemoryProfileStore
) -> None:
    # An erased person's decisions still in the stream must not bring them back
    shown = profiles.Shown("home", "boots", NOW.timestamp(), "web", "home:e-9")
    assert service.shown([(users.hash("erased-1"), shown)], NOW) == 0
    assert store.items == {}


# --- ids only as keyed hashes -------------------------------------------------------------------


def test_ids_are_stored_only_as_keyed_hashes(
    service: Profiles, store: MemoryProfileStore, users: UserHasher
) -> None:
    # Given interactions of an anonymous visitor and a known one, linked
    service.record([interaction("cookie-7f3a", item="boot-42", channel="web")], NOW)
    service.record([interaction("user-1042", "purchase", value=80.0, channel="store")], NOW)
    service.link("cookie-7f3a", "user-1042", NOW)

    # Then every item is under a keyed hash, and no id is stored in clear anywhere
    assert set(store.items) == {users.hash("cookie-7f3a"), users.hash("user-1042")}
    for item, _ in store.items.values():
        assert item.visitor.startswith("k1:")
        text = repr(item)
        assert "cookie-7f3a" not in text
        assert "user-1042" not in text
    # ...and the hash is keyed: another secret gives other hashes
    other = UserHasher(lambda: [HashKey("k1", b"another secret")])
    assert other.hash("user-1042") not in store.items


# --- linking an anonymous id to a known one -----------------------------------------------------


def anonymous_then_known(service: Profiles) -> None:
    """A cookie that looked at boots on the web, and a known user who bought a coat in store."""
    service.record(
        [
            interaction("cookie-7f3a", item="boot-42", category="winter-boots", channel="web",
                        interaction_id="v-1"),
            interaction("cookie-7f3a", item="boot-7", category="winter-boots", channel="web",
                        interaction_id="v-2"),
        ],
        NOW,
    )  # fmt: skip
    service.record(
        [
            interaction("user-1042", "purchase", item="coat-9", category="coats", value=80.0,
                        channel="store", interaction_id="p-1"),
        ],
        NOW,
    )  # fmt: skip


def test_link_merges_the_anonymous_history_into_the_known_profile(
    service: Profiles, store: MemoryProfileStore, users: UserHasher
) -> None:
    anonymous_then_known(service)

    linked = service.link("cookie-7f3a", "user-1042", NOW)

    assert (linked.status, linked.linked_ids) == ("linked", 1)
    known = profile(service, "user-1042")
    assert known.types == {"view": 2.0, "purchase": 1.0}
    assert known.categories == {"winter-boots": 2.0, "coats": 4.0}
    assert known.spend == 80.0
    assert {item for item, _, _ in known.items} == {"boot-42", "boot-7", "coat-9"}

    # and the anonymous id reads the merged profile, in one store read
    store.reads = 0
    assert service.of(users.hash("cookie-7f3a")) == known
    assert store.reads == 1


def test_the_anonymous_history_is_merged_once_however_often_the_link_is_sent(
    service: Profiles,
) -> None:
    anonymous_then_known(service)
    service.link("cookie-7f3a", "user-1042", NOW)

    again = service.link("cookie-7f3a", "user-1042", NOW)

    assert (again.status, again.linked_ids) == ("already_linked", 1)
    assert profile(service, "user-1042").types == {"view": 2.0, "purchase": 1.0}


def test_a_link_to_a_known_visitor_with_no_profile_yet_moves_the_history(
    service: Profiles,
) -> None:
    service.record([interaction("cookie-7f3a", category="hats")], NOW)

    linked = service.link("cookie-7f3a", "user-1042", NOW)

    assert linked.status == "linked"
    assert profile(service, "user-1042").categories == {"hats": 1.0}
    assert profile(service, "cookie-7f3a") == profile(service, "user-1042")


def test_interactions_sent_later_for_either_id_land_in_one_profile(service: Profiles) -> None:
    # Given a cookie linked to its user
    anonymous_then_known(service)
    service.link("cookie-7f3a", "user-1042", NOW)

    # When the cookie keeps browsing, and the user keeps buying
    service.record([interaction("cookie-7f3a", item="hat-3", interaction_id="v-3")], NOW)
    service.record([interaction("user-1042", "purchase", value=20.0, interaction_id="p-2")], NOW)

    # Then both ids read one profile holding it all
    known = profile(service, "user-1042")
    assert known.types == {"view": 3.0, "purchase": 2.0}
    assert known.spend == 100.0
    assert "hat-3" in {item for item, _, _ in known.items}
    assert profile(service, "cookie-7f3a") == known
    # and what the cookie sends again is still counted once
    retried = service.record([interaction("cookie-7f3a", interaction_id="v-1")], NOW)
    assert retried.duplicate == 1


def test_an_id_linked_to_another_person_is_relinked_and_its_past_stays_with_them(
    service: Profiles,
) -> None:
    # Given a shared tablet's cookie, linked to Alice after its boots were looked at
    service.record([interaction("tablet-cookie", category="winter-boots")], NOW)
    service.link("tablet-cookie", "alice", NOW)

    # When Bob signs in on it
    relinked = service.link("tablet-cookie", "bob", NOW)

    # Then the cookie is Bob's now, and what it did before stays Alice's
    assert (relinked.status, relinked.linked_ids) == ("relinked", 1)
    assert profile(service, "alice").categories == {"winter-boots": 1.0}
    assert profile(service, "bob").categories == {}
    assert profile(service, "tablet-cookie") == profile(service, "bob")

    # and what it does from now on is Bob's alone, even as Alice's profile changes
    service.record([interaction("tablet-cookie", category="coats")], NOW)
    service.record([interaction("alice", category="hats")], NOW)
    assert profile(service, "bob").categories == {"coats": 1.0}
    assert profile(service, "alice").categories == {"winter-boots": 1.0, "hats": 1.0}
    assert profile(service, "tablet-cookie") == profile(service, "bob")


def test_an_id_linked_to_a_linked_id_reads_its_person(service: Profiles) -> None:
    # Given an app install linked to its user
    service.record([interaction("user-1042", category="coats")], NOW)
    service.link("app-install-1", "user-1042", NOW)

    # When a cookie is linked to the app install
    service.record([interaction("cookie-7f3a", category="hats")], NOW)
    linked = service.link("cookie-7f3a", "app-install-1", NOW)

    # Then it joins the user's profile
    assert (linked.status, linked.linked_ids) == ("linked", 2)
    assert profile(service, "user-1042").categories == {"coats": 1.0, "hats": 1.0}
    assert profile(service, "cookie-7f3a") == profile(service, "user-1042")
    assert profile(service, "app-install-1") == profile(service, "user-1042")


def test_ids_linked_to_an_id_that_is_then_linked_follow_it(service: Profiles) -> None:
    # Given a cookie linked to an app install, and later the app install linked to a user
    service.record([interaction("cookie-7f3a", category="hats")], NOW)
    service.link("cookie-7f3a", "app-install-1", NOW)
    service.link("app-install-1", "user-1042", NOW)

    # When the cookie and the user keep interacting
    service.record([interaction("cookie-7f3a", category="coats")], NOW)
    service.record([interaction("user-1042", category="boots")], NOW)

    # Then all three ids read one profile holding it all
    person = profile(service, "user-1042")
    assert person.categories == {"hats": 1.0, "coats": 1.0, "boots": 1.0}
    assert profile(service, "app-install-1") == person
    assert profile(service, "cookie-7f3a") == person


class LinkInterleaving(MemoryProfileStore):
    """Runs ``meanwhile`` once, right after a link has turned an id into a pointer: a request
    that arrives while the link is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Any = None

    def write(self, item: StoredProfile, expires_at: int) -> bool:
        written = super().write(item, expires_at)
        if written and item.linked_to is not None and self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return written


def test_an_interaction_recorded_while_a_link_is_under_way_is_not_lost(
    users: UserHasher,
) -> None:
    # Given a cookie that looked at hats, and a user who just signed up (no profile yet)
    store = LinkInterleaving()
    service = Profiles(store, users)
    service.record([interaction("cookie-7f3a", category="hats", interaction_id="v-1")], NOW)

    # When the cookie views coats while it is being linked to the user
    store.meanwhile = lambda: service.record(
        [interaction("cookie-7f3a", category="coats", interaction_id="v-2")], NOW
    )
    service.link("cookie-7f3a", "user-1042", NOW)

    # Then the user's profile holds both, and the cookie reads it
    assert profile(service, "user-1042").categories == {"hats": 1.0, "coats": 1.0}
    assert profile(service, "cookie-7f3a") == profile(service, "user-1042")


# --- forgetting a person ------------------------------------------------------------------------


def test_forget_deletes_the_profile_and_every_linked_id(
    service: Profiles, store: MemoryProfileStore, users: UserHasher
) -> None:
    # Given a user with a cookie and an app install linked, and someone else
    anonymous_then_known(service)
    service.link("cookie-7f3a", "user-1042", NOW)
    service.record([interaction("app-install-1", channel="app")], NOW)
    service.link("app-install-1", "user-1042", NOW)
    service.record([interaction("someone-else", category="hats")], NOW)

    # When the person reads what is kept about them, then asks to be forgotten
    found, hashes = service.person(users.every_hash("user-1042"))
    deleted, forgotten = service.forget(users.every_hash("user-1042"))

    # Then their profile and all three ids are gone, and no one else's
    assert found is not None and found.spend == 80.0
    ids = {users.hash(v) for v in ("user-1042", "cookie-7f3a", "app-install-1")}
    assert hashes == forgotten == ids
    assert deleted == 3
    for visitor in ("user-1042", "cookie-7f3a", "app-install-1"):
        assert service.of(users.hash(visitor)) is None
    assert set(store.items) == {users.hash("someone-else")}


def test_a_person_is_forgotten_through_any_id_they_used(
    service: Profiles, store: MemoryProfileStore, users: UserHasher
) -> None:
    anonymous_then_known(service)
    service.link("cookie-7f3a", "user-1042", NOW)

    deleted, _ = service.forget(users.every_hash("cookie-7f3a"))

    assert deleted == 2
    assert store.items == {}


def test_forgetting_someone_never_seen_deletes_nothing(
    service: Profiles, users: UserHasher
) -> None:
    anonymous_then_known(service)

    assert service.person(users.every_hash("nobody")) == (None, set())
    assert service.forget(users.every_hash("nobody")) == (0, set())
    assert service.of(users.hash("user-1042")) is not None


def test_forget_deletes_ids_linked_through_another_linked_id(
    service: Profiles, store: MemoryProfileStore, users: UserHasher
) -> None:
    # Given a cookie linked to an app install, and later the app install linked to a user
    service.record([interaction("cookie-7f3a", category="hats")], NOW)
    service.link("cookie-7f3a", "app-install-1", NOW)
    service.link("app-install-1", "user-1042", NOW)

    # When the user asks to be forgotten
    service.forget(users.every_hash("user-1042"))

    # Then nothing of theirs is kept, under any id
    assert store.items == {}


# --- concurrent writers -------------------------------------------------------------------------


class Contentious(MemoryProfileStore):
    """A store that yields the interpreter on every read, so that concurrent writers
    interleave between a read and its conditional write; counts the writes refused."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def read(self, visitor: str) -> StoredProfile | None:
        found = super().read(visitor)
        time.sleep(0.0001)
        return found

    def write(self, item: StoredProfile, expires_at: int) -> bool:
        written = super().write(item, expires_at)
        self.refused += not written
        return written


def record_concurrently(service: Profiles, visitors: list[str], per_thread: int) -> int:
    """One thread per visitor id, each recording its interactions one request at a time and
    sending again what is refused as contended (as a caller should); what was recorded."""
    start = threading.Barrier(len(visitors))
    recorded: list[int] = []
    failures: list[BaseException] = []

    def writer(thread: int, visitor: str) -> None:
        start.wait()
        for n in range(per_thread):
            batch = [interaction(visitor, interaction_id=f"t{thread}-{n}")]
            while True:
                try:
                    recorded.append(service.record(batch, NOW).recorded)
                    break
                except Contended:
                    continue
                except BaseException as error:  # surfaced in the test's thread
                    failures.append(error)
                    return

    threads = [threading.Thread(target=writer, args=(t, v)) for t, v in enumerate(visitors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return sum(recorded)


def test_concurrent_writers_to_one_profile_lose_nothing(users: UserHasher) -> None:
    store = Contentious()
    service = Profiles(store, users)

    # When 8 writers send 50 interactions each for the same visitor at once
    recorded = record_concurrently(service, ["cookie-7f3a"] * 8, per_thread=50)

    # Then writes did collide, and every interaction was counted, once
    assert store.refused > 0
    assert recorded == 400
    assert views(service, "cookie-7f3a") == pytest.approx(400.0)


def test_concurrent_writers_through_linked_ids_lose_nothing(users: UserHasher) -> None:
    # Given a cookie linked to its user
    store = Contentious()
    service = Profiles(store, users)
    service.record([interaction("cookie-7f3a", interaction_id="before")], NOW)
    service.link("cookie-7f3a", "user-1042", NOW)

    # When writers send interactions through both ids at once
    recorded = record_concurrently(service, ["cookie-7f3a", "user-1042"] * 4, per_thread=25)

    # Then the person's profile counts them all, and the cookie reads the latest of it
    assert recorded == 200
    assert views(service, "user-1042") == pytest.approx(201.0)
    assert profile(service, "cookie-7f3a") == profile(service, "user-1042")


# --- found by a review: refusals before writes, whole items, every key's profile -----------


def test_a_link_past_the_most_ids_is_refused_before_the_id_becomes_a_link(
    service: Profiles, users: UserHasher
) -> None:
    # Given a person with as many ids linked as a person may have
    service.record([interaction("user-9", category="hats")], NOW)
    for number in range(MAX_LINKED):
        service.link(f"cookie-{number}", "user-9", NOW)
    service.record([interaction("cookie-late", category="boots")], NOW)

    # When one more id is linked, it is refused
    with pytest.raises(TooManyLinks):
        service.link("cookie-late", "user-9", NOW)

    # Then the id is left as it was: its own history, and its interactions stay its own
    service.record([interaction("cookie-late", category="boots")], NOW)
    assert profile(service, "cookie-late").categories == {"boots": 2.0}
    assert "boots" not in profile(service, "user-9").categories


def test_a_person_found_at_the_end_of_the_longest_chain_keeps_their_linked_ids(
    service: Profiles, store: MemoryProfileStore, users: UserHasher
) -> None:
    # Given a person with a linked id, and a chain of links as long as links are followed
    service.record([interaction("person", category="hats")], NOW)
    service.link("their-cookie", "person", NOW)
    chain = ["a", "b", "c", "d"]
    for visitor, points_to in zip(chain, [*chain[1:], "person"], strict=True):
        store.items[users.hash(visitor)] = (
            StoredProfile(
                users.hash(visitor), profiles.to_json(Profile()), linked_to=users.hash(points_to)
            ),
            0,
        )

    # When an interaction comes for the chain's first id
    service.record([interaction("a", category="boots")], NOW)

    # Then it lands in the person's profile, whose linked id is still theirs
    person = store.items[users.hash("person")][0]
    assert users.hash("their-cookie") in person.aliases
    assert "boots" in profile(service, "person").categories


def test_a_person_s_profiles_under_every_hash_key_are_exported_together(
    service: Profiles, store: MemoryProfileStore
) -> None:
    # Given a person who browsed under the old key, and more after a rotation
    service.record([interaction("user-1", category="hats")], NOW)
    rotated = UserHasher(lambda: [HashKey("k2", b"new"), HashKey("k1", SECRET)])
    after = Profiles(store, rotated)
    after.record([interaction("user-1", category="boots")], NOW)

    # When they ask what is kept about them
    found, hashes = after.person(rotated.every_hash("user-1"))

    # Then both profiles are in it
    assert found is not None and set(found.categories) == {"hats", "boots"}
    assert len(hashes) == 2


def test_an_erasure_cut_short_and_sent_again_still_takes_the_linked_ids_decisions(
    service: Profiles, users: UserHasher
) -> None:
    # Given a person whose cookie was decided for before they signed in
    anonymous_then_known(service)
    service.link("cookie-7f3a", "user-1042", NOW)
    log = MemoryDecisionLog()
    decided = replace(record("cookie-visit"), user_hash=users.hash("cookie-7f3a"))
    log.put(decided)

    # When the first erasure fails half way (the decisions' delete), and is sent again
    failing = MemoryDecisionLog()
    failing.records = log.records

    def unavailable(event_ids: Any) -> int:
        raise ConnectionError("DynamoDB is unavailable")

    failing.forget = unavailable  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        erase(failing, service, "user-1042")
    erased = erase(log, service, "user-1042")

    # Then the second found the cookie through the link the first had not deleted yet
    assert (erased.decisions_deleted, erased.profiles_deleted) == (1, 2)
    assert log.of_user([users.hash("cookie-7f3a")]) == []


def test_a_link_of_a_known_id_cut_short_and_sent_again_takes_its_linked_ids_along(
    service: Profiles, store: MemoryProfileStore, users: UserHasher, monkeypatch: Any
) -> None:
    # Given a known id with two cookies linked to it
    service.record([interaction("user-p", category="hats")], NOW)
    for cookie in ("cookie-1", "cookie-2"):
        service.record([interaction(cookie, category="boots")], NOW)
        service.link(cookie, "user-p", NOW)
    service.record([interaction("user-r", category="coats")], NOW)

    # When that id is linked to another person, the first try failing after it became a link
    real = service._merge_into
    failures = iter([True])

    def busy_once(*args: Any) -> StoredProfile:
        if next(failures, False):
            raise Contended("busy")
        return real(*args)

    monkeypatch.setattr(service, "_merge_into", busy_once)
    with pytest.raises(Contended):
        service.link("user-p", "user-r", NOW)
    answer = service.link("user-p", "user-r", NOW)

    # Then the retry finished it: the cookies read the person's profile, and are theirs
    assert answer.status in ("linked", "already_linked")
    person = users.hash("user-r")
    for cookie in ("cookie-1", "cookie-2"):
        assert store.items[users.hash(cookie)][0].linked_to == person
        assert "coats" in profile(service, cookie).categories
    _, ids = service.person(users.every_hash("user-r"))
    assert {users.hash(v) for v in ("user-p", "cookie-1", "cookie-2")} <= ids


def test_a_link_to_someone_linked_on_meanwhile_lands_in_the_person_they_were_linked_to(
    service: Profiles, store: MemoryProfileStore, users: UserHasher, monkeypatch: Any
) -> None:
    # Given a cookie's history, and a known id Q that is linked to person R while the
    # cookie's link to Q is under way
    service.record([interaction("cookie-9", category="boots")], NOW)
    service.record([interaction("user-q", category="hats")], NOW)
    service.record([interaction("user-r", category="coats")], NOW)
    real = service._merge_into
    moved = iter([True])

    def meanwhile(*args: Any) -> StoredProfile:
        if next(moved, False):
            service.link("user-q", "user-r", NOW)
        return real(*args)

    monkeypatch.setattr(service, "_merge_into", meanwhile)

    # When the cookie's link goes on
    service.link("cookie-9", "user-q", NOW)

    # Then its history is in R's profile, it reads R's, and erasing R takes it
    assert set(profile(service, "user-r").categories) == {"boots", "hats", "coats"}
    assert set(profile(service, "cookie-9").categories) == {"boots", "hats", "coats"}
    _, ids = service.person(users.every_hash("user-r"))
    assert users.hash("cookie-9") in ids
