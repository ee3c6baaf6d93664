"""HTTP and WebSocket controllers. Each module exports its handlers; ``ROUTE_HANDLERS``
is what ``create_app`` registers (add new controllers here)."""

from __future__ import annotations

from typing import Any

from ofca.controllers.accounts import AccountsController, MembersController
from ofca.controllers.auth import AuthController
from ofca.controllers.chatwoot import ChatwootController, ChatwootTokenController
from ofca.controllers.conversations import ConversationsController
from ofca.controllers.exports import AccountDataController, ExportController
from ofca.controllers.frontend import dashboard_index
from ofca.controllers.health import HealthController
from ofca.controllers.insight_charts import InsightChartsController
from ofca.controllers.insights import InsightsController
from ofca.controllers.money import MoneyController
from ofca.controllers.schemas import SchemaController, docs_redirects
from ofca.controllers.topics import TopicsController
from ofca.controllers.webhooks import ConversationWebhookController, WebhookSecretController
from ofca.controllers.ws import WEBSOCKET_HANDLERS

ROUTE_HANDLERS: list[Any] = [
    HealthController,
    SchemaController,
    AccountsController,
    MembersController,
    AuthController,
    InsightsController,
    InsightChartsController,
    MoneyController,
    TopicsController,
    ConversationWebhookController,
    WebhookSecretController,
    ChatwootController,
    ChatwootTokenController,
    ConversationsController,
    ExportController,
    AccountDataController,
    *WEBSOCKET_HANDLERS,
    *docs_redirects,
    dashboard_index,
]
