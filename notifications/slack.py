"""Messages in Slack (the official slack-sdk): each notification also goes to its person as a
direct message, found by their email (users.lookupByEmail, then chat.postMessage); finance's
kinds (rollover, reconciliation) go to the team channel too. Apps above add blocks to a kind's
message (approvals: the Approve / Reject buttons) by registering a function, as for emails.

settings.ALLOT_SLACK_API_URL is Slack's Web API address (the tests point it at a local server)."""

import logging
from collections.abc import Callable

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from notifications.email import absolute_url, email_subject
from notifications.kinds import Kind
from notifications.models import Notification, SlackSettings
from outbox.services import Job, outbox_enqueue

logger = logging.getLogger(__name__)
TEAM_KINDS = {Kind.ROLLOVER, Kind.RECONCILIATION}
_blocks: dict[str, Callable[[Notification, str], list[dict]]] = {}


def slack_blocks_register(kind: str, blocks: Callable[[Notification, str], list[dict]]) -> None:
    """`blocks(note, slack_user_id)` gives more blocks for the Slack messages of `kind`."""
    _blocks[kind] = blocks


def slack_settings() -> SlackSettings | None:
    # bandit: an empty token is "not set", not a hard-coded password
    return SlackSettings.objects.filter(active=True).exclude(bot_token="").first()  # nosec B106


def slack_client(config: SlackSettings) -> WebClient:
    return WebClient(token=config.bot_token, base_url=settings.ALLOT_SLACK_API_URL, timeout=10)


def slack_queue(notification_ids: list[int]) -> None:
    """Queue these notifications' Slack messages in the caller's transaction (the one place
    that does), sent by the outbox relay once it commits."""
    outbox_enqueue(
        Job("notifications.notification_slack_send", args=[pk]) for pk in notification_ids
    )


def _message_blocks(note: Notification) -> list[dict]:
    text = (
        f"*{email_subject(note)}*\n{note.message}\n<{absolute_url(note.link or '/')}|Open in Allot>"
    )
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def slack_send(note: Notification) -> bool:
    """Post the notification to its person (and finance's kinds to the team channel). A person
    Slack does not know by that email is skipped; returns whether a message was posted."""
    config = slack_settings()
    if config is None or not note.user.email or note.done_at is not None:
        return False
    client = slack_client(config)
    try:
        slack_user = client.users_lookupByEmail(email=note.user.email)["user"]["id"]
    except SlackApiError as error:
        logger.info("slack: %s not found (%s)", note.user.email, error.response.get("error"))
        return False
    blocks = _message_blocks(note)
    more = _blocks.get(note.kind)
    if more is not None:
        blocks += more(note, slack_user)
    client.chat_postMessage(channel=slack_user, text=email_subject(note), blocks=blocks)
    if note.kind in TEAM_KINDS and config.team_channel:
        client.chat_postMessage(
            channel=config.team_channel, text=email_subject(note), blocks=_message_blocks(note)
        )
    return True
