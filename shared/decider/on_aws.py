"""The core assembled on the AWS stores, as the functions build it once at cold start."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

import boto3

from decider.learning.model_cache import ModelCache
from decider.loop.decide import Decider
from decider.loop.interactions import Profiles
from decider.privacy import UserHasher
from decider.settings import DecideSettings, StackSettings
from decider.store.dynamo_log import DynamoDecisionLog
from decider.store.dynamo_profiles import DynamoProfileStore
from decider.store.dynamo_registry import DynamoRegistry
from decider.store.s3_models import S3ModelStore
from decider.store.secret_keys import SecretHashKeys


def decision_log(settings: StackSettings, client: Any = None) -> DynamoDecisionLog:
    return DynamoDecisionLog(
        settings.decisions_table,
        settings.decisions_by_time_index,
        client=client,
        user_index=settings.decisions_by_user_index,
    )


def user_hasher(settings: StackSettings, max_age: int = 300) -> UserHasher:
    return UserHasher(SecretHashKeys(settings.user_hash_secret, max_age=max_age))


def profiles(settings: StackSettings, max_age: int = 300, client: Any = None) -> Profiles:
    return Profiles(
        DynamoProfileStore(settings.profiles_table, client=client),
        user_hasher(settings, max_age),
        half_life_days=settings.profile_half_life_days,
        retention=timedelta(days=settings.profile_retention_days),
    )


def decider(settings: DecideSettings, own: Collection[str] = ()) -> Decider:
    """Decide on the AWS stores; ``own``: decision points the function serves by its
    configuration (created on first use, whatever the cap). Its clients are made here, at
    init (a boto3 client takes 30-40 ms to make): one DynamoDB client for its three tables,
    one S3 client, so a container's first decide makes none."""
    loop = settings.loop()
    dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    models = ModelCache(
        DynamoRegistry(settings.models_table, client=dynamodb),
        S3ModelStore(settings.models_bucket, client=s3),
        loop.exploration,
        settings.model_refresh_seconds,
        auto_create=settings.auto_create_decision_points,
        own=own,
    )
    visitors = profiles(settings, client=dynamodb)
    return Decider(
        models=models,
        log=decision_log(settings, client=dynamodb),
        loop=loop,
        users=visitors.users,
        profiles=visitors,
    )
