"""make demo, second part: profiles, reasons, a discount that pays, and a campaign.

- Shoppers browse (POST /interactions: web, app, store) and the app decides for them by their
  id alone; the same shoppers decided without their profile (consent anonymous) on a twin
  decision point show what the profile is worth.
- A visitor who browsed winter boots on the web opens the app: the decision used their
  profile, and says why. Withdrawn consent: neither profile nor reason. Their cookie is linked
  to the id they sign in with, and erasing the person takes the profile and the link.
- A discount decision point learns margins, not conversions (EUR 0-60): the best discount is
  not the biggest.
- A campaign: a list of 10,000 subscribers in the campaigns bucket, one decision per row by the
  template's state machine, rewards for the clicks of a sample, learned by the next retrain.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import boto3

from infra.shops import (
    DISCOUNT_OFFERS,
    PLACES,
    PROFILE_OFFERS,
    Person,
    Shopper,
    discounts,
    shopper,
)

APP = "app-home"
APP_ANONYMOUS = "app-home-anonymous"  # the same shoppers, decided without their profile
DISCOUNT = "checkout-discount"
NEWSLETTER = "newsletter-offer"
SETTINGS: dict[str, dict[str, Any]] = {
    APP: {},
    APP_ANONYMOUS: {},
    DISCOUNT: {"reward_range": {"low": 0, "high": 60}, "reward_unit": "EUR margin"},
    # An email's clicks come in over days: its decisions wait longer for their rewards (the
    # demo's scale: 60 s) than the pages' do.
    NEWSLETTER: {"reward_wait_seconds": 60},
}


class Scenes:
    def __init__(self, client: Any, aws_endpoint: str, reward_wait: float) -> None:
        self.client = client
        self.aws = aws_endpoint
        self.reward_wait = reward_wait
        self.problems: list[str] = []
        self._ids = count()

    def retrain(self, wait: float | None = None) -> dict[str, Any]:
        """The retrain schedule, fired once the reward wait is over: its reports."""
        time.sleep((self.reward_wait if wait is None else wait) + 3.3)  # and the settle margin
        reports = self.client.post("/_local/schedules/RetrainStateMachine")["reports"]
        time.sleep(1.1)  # decide checks for a new version at most every second
        return {report["decision_point"]: report for report in reports}

    def keyed(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, body, headers={"x-api-key": self.client.server_key})

    def run(self) -> list[str]:
        for decision_point, settings in SETTINGS.items():
            self.client.post(f"/decision-points/{decision_point}", settings, method="PUT")
        started = time.monotonic()
        self.profiles()
        self.boots_visitor()
        self.discounts()
        self.campaign()
        print(f"(second part: {time.monotonic() - started:.0f} s)", flush=True)
        return self.problems

    # --- profiles: what they are worth ---------------------------------------------------------

    def profiles(self, rounds: int = 3, size: int = 500) -> None:
        print("\nProfiles: shoppers browse (web, app, store), then the app decides by their id",
              flush=True)  # fmt: skip
        # The scene's own event ids (exploration draws by them) and seed: the same every run,
        # so the boots visitor below meets the same model (random ids gave a model that chose
        # the coat edit for them in one CI run).
        rng = random.Random(10)
        earned = {APP: 0.0, APP_ANONYMOUS: 0.0}
        for number in range(1, rounds + 1):
            earned = {APP: 0.0, APP_ANONYMOUS: 0.0}
            for index in range(size):
                who = shopper(rng, next(self._ids))
                self.keyed("/interactions", {"interactions": who.interactions(rng, 4)})
                for decision_point, consent in ((APP, "personal"), (APP_ANONYMOUS, "anonymous")):
                    body = {**who.request("app"), "decision_point": decision_point,
                            "consent": consent,
                            "event_id": f"shopper-{number}-{index}"}  # fmt: skip
                    decision = self.client.post("/decide", body)
                    chosen = [o["id"] for o in PROFILE_OFFERS].index(decision["action_id"])
                    earned[decision_point] += who.truth()[chosen]
                    if rng.random() < who.truth()[chosen]:
                        self.client.reward(decision["event_id"], 1.0)
            self.retrain()
            with_it, without = earned[APP] / size, earned[APP_ANONYMOUS] / size
            print(f"  round {number}: {size} shoppers; expected conversions per visit with "
                  f"their profile {with_it:.3f}, without {without:.3f}", flush=True)  # fmt: skip
        if earned[APP] < earned[APP_ANONYMOUS] * 1.5:
            self.problems.append("decisions with profiles did not earn clearly more")

    # --- one visitor, told why --------------------------------------------------------------

    def boots_visitor(self) -> None:
        # A January evening in Boston; they browsed the evening before, on the web
        boston = Person(datetime(2026, 1, 21, 23, tzinfo=UTC), PLACES[0], "mobile", "new")
        who = Shopper("cookie-5f1e", "winter-boots", boston)
        when = (who.person.at - timedelta(days=1)).isoformat().replace("+00:00", "Z")
        browsed = [
            {"visitor": who.visitor, "type": kind, "item": f"boot-{n}", "category": "winter-boots",
             "channel": "web", "at": when, "interaction_id": f"{who.visitor}-{n}"}
            for n, kind in enumerate(("view", "view", "click", "add_to_cart"))
        ]  # fmt: skip
        self.keyed("/interactions", {"interactions": browsed})
        answer: dict[str, Any] = {}
        for attempt in range(8):  # an exploratory pick says only that it is new: ask again
            body = {**who.request("app"), "decision_point": APP, "explain": True,
                    "event_id": f"boots-{attempt}"}  # fmt: skip
            answer = self.client.post("/decide", body)
            if answer["explanation"]["kind"] == "best":
                break
        reason = answer["explanation"]["reason"]
        print(f"\nA visitor browsed winter boots on the web, then opened the app: "
              f"{answer['action_id']} (profile used: {answer['profile_used']}); "
              f"reason: \"{reason}\"", flush=True)  # fmt: skip
        if not answer["profile_used"] or "winter boots" not in reason:
            self.problems.append("the boots visitor's decision did not use or name their profile")
        withdrawn = self.client.post(
            "/decide", {**who.request("app"), "decision_point": APP, "consent": "none",
                        "explain": True},
        )  # fmt: skip
        print(f"  consent withdrawn: profile used {withdrawn['profile_used']}, reason "
              f"{withdrawn['explanation']}", flush=True)  # fmt: skip
        if withdrawn["profile_used"] or withdrawn["explanation"] is not None:
            self.problems.append("a visitor without consent got a profile or a reason")
        known = "shopper-boots@example.com"
        linked = self.keyed("/visitors/link", {"anonymous": who.visitor, "known": known})
        erased = self.client.post(f"/users/{known}", method="DELETE")
        print(f"  signed in: {linked['status']} ({linked['linked_ids']} id linked); erased: "
              f"{erased['profiles_deleted']} profiles and links, {erased['decisions_deleted']} "
              "decisions", flush=True)  # fmt: skip
        if erased["profiles_deleted"] < 2:
            self.problems.append("erasing the person left their profile or link")

    # --- a discount that pays --------------------------------------------------------------

    def discounts(self, rounds: int = 3, size: int = 600) -> None:
        print(f"\n{DISCOUNT}: rewards are the order's margin less the discount (EUR 0-60)",
              flush=True)  # fmt: skip
        rng, coins = random.Random(20), random.Random(21)
        served: Counter[tuple[str, str]] = Counter()
        for number in range(1, rounds + 1):
            earned = best = uniform = 0.0
            served.clear()
            for index in range(size):
                visit = discounts(rng, index, size)
                # Event ids of its own: the draws, and so the run, are the same every time
                decision = self.client.post(
                    "/decide", {**visit.request, "decision_point": DISCOUNT,
                                "event_id": f"discount-{number}-{index}"},
                )  # fmt: skip
                chosen = visit.action_ids.index(decision["action_id"])
                earned += visit.truth[chosen]
                best += max(visit.truth)
                uniform += sum(visit.truth) / len(visit.truth)
                served[visit.request["profile"]["segment"], decision["action_id"]] += 1
                margin = visit.outcome(chosen, coins.random())
                if margin:
                    self.client.reward(decision["event_id"], margin)
            self.retrain()
            print(f"  round {number}: EUR {earned / size:.2f} margin per visit; uniform "
                  f"{uniform / size:.2f}, best {best / size:.2f}", flush=True)  # fmt: skip
        offers = [str(offer["id"]) for offer in DISCOUNT_OFFERS]
        top = {
            segment: max(offers, key=lambda offer: served[segment, offer])
            for segment in ("new", "returning", "vip")
        }
        share = (earned - uniform) / (best - uniform)
        print(f"  most served in the last round: {top}; {share:.0%} of the best possible gain "
              "over uniform", flush=True)  # fmt: skip
        # Its share after three rounds varied from 36% to 51% with random draws (six runs):
        # the check is that it learned, not how far three rounds take it.
        if "discount-30" in top.values() or share < 0.25:
            self.problems.append("the discount decision point did not learn what pays")

    # --- a campaign -------------------------------------------------------------------------

    def campaign(self, rows: int = 10_000, sample: int = 5) -> None:
        s3 = boto3.client("s3", endpoint_url=self.aws, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
        bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "campaigns" in b["Name"])
        rng = random.Random(30)
        subscribers = [
            {"visitor": f"subscriber-{n}", "interest": rng.choice(["winter-boots", "beachwear"]),
             "country": rng.choice(["US", "AU", "GB"])}
            for n in range(rows)
        ]  # fmt: skip
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(subscribers[0]))
        writer.writeheader()
        writer.writerows(subscribers)
        s3.put_object(Bucket=bucket, Key="lists/december.csv", Body=text.getvalue().encode())
        job = {"campaign_id": "december-letter", "decision_point": NEWSLETTER, "channel": "email",
               "input": {"key": "lists/december.csv", "format": "csv"},
               "actions": PROFILE_OFFERS, "cap": {"most": 2, "days": 7}}  # fmt: skip
        started = time.monotonic()
        run = self.client.post("/_local/state-machines/CampaignStateMachine", job)
        ended = time.monotonic()  # the last row's reward wait starts here
        elapsed = ended - started
        decided: list[dict[str, Any]] = []
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="campaigns/december-letter/decisions/")
        for entry in listed.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode()
            decided.extend(json.loads(line) for line in body.splitlines())
        ids = {row["event_id"] for row in decided if row["status"] == "decided"}
        # The email service reports the clicks of a sample of the list (every fifth row): a
        # subscriber clicks the offer of what they are into.
        answers: Counter[str] = Counter()
        wanted = {"winter-boots": "boots-sale", "beachwear": "swim-edit"}
        for row in decided[::sample]:
            if row["status"] == "decided" and row["action_id"] == wanted.get(
                subscribers[row["row"]]["interest"]
            ):
                answers[self.client.reward(row["event_id"], 1.0)["status"]] += 1
        clicks = answers["recorded"]  # a click after the wait would be late: kept, not learned
        waited = time.monotonic() - ended
        report = self.retrain(max(SETTINGS[NEWSLETTER]["reward_wait_seconds"] - waited, 0))
        report = report.get(NEWSLETTER, {})
        evaluation = report.get("evaluation", {})
        learned, held_out = (
            round(evaluation.get(part, {}).get("n", 0) * evaluation.get(part, {}).get("mean", 0))
            for part in ("learned", "logged")
        )
        print(f"\nCampaign december-letter: {run['rows']} subscribers in {run['batches']} "
              f"batches, {len(decided)} decisions written ({len(ids)} event ids) in "
              f"{elapsed:.1f} s; {clicks} clicks rewarded in a sample of {len(decided[::sample])}"
              f"{'' if clicks == answers.total() else f' ({answers.total() - clicks} late)'}; "
              f"retrain: {report.get('status')}, {report.get('decisions_learned')} decisions "
              f"learned with {learned} of the clicks, {held_out} held out to score it (learned "
              "next run)", flush=True)  # fmt: skip
        if len(decided) != rows or len(ids) != rows or report.get("status") != "trained":
            self.problems.append("the campaign did not decide every row or was not learned")
        elif learned + held_out != clicks or learned == 0 or answers["late"]:
            self.problems.append(
                "some of the campaign's clicks came late, or were not learned or scored"
            )
