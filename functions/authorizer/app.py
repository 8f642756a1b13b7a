"""The API's Lambda authorizer: which server key, if any, a request presents.

API Gateway's HTTP API answers a refusing authorizer with a bare 403 that neither this API's
clients nor Azure's Personalizer SDK expect; so the authorizer names the key it verified (or
none) and the route refuses a request without one with a 401 in its own error shape.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider.http.keys import verified
from decider.settings import AuthorizerSettings
from decider.store.secret_keys import SecretKeyStore

logger = Logger()
settings = AuthorizerSettings()  # type: ignore[call-arg]  # from the environment
keys = SecretKeyStore(settings.keys_secret)


def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = APIGatewayAuthorizerEventV2(event)
    presented = request.identity_source[0] if request.identity_source else None
    # A key not among the cached hashes may be one a rotation just added: read them again.
    key_id = verified(presented, keys.hashes("server")) or verified(
        presented, keys.hashes("server", fresh=True)
    )
    if key_id is None:
        logger.info("no valid key", extra={"route": request.route_key})
    return APIGatewayAuthorizerResponseV2(authorize=True, context={"key_id": key_id or ""}).asdict()
