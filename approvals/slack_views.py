"""Slack's interactivity endpoint: the Approve button of a "waits for you" message.

Every request is verified with Slack's documented scheme (slack_sdk's SignatureVerifier:
HMAC-SHA256 of "v0:<X-Slack-Request-Timestamp>:<raw body>" with the app's signing secret,
compared with X-Slack-Signature; older than five minutes refused). The button carries the same
signed, single-use link as the email (approvals/oneclick.py), and the Slack user who pressed it
must be the link's approver (their Slack email, from users.info). The answer replaces the
message through the payload's response_url."""

import json
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from approvals.oneclick import decision_link_use, link_check
from common.errors import AllotError
from notifications.slack import slack_client, slack_settings

logger = logging.getLogger(__name__)


def _answer(payload: dict, text: str) -> None:
    url = payload.get("response_url")
    if url:
        WebhookClient(url, timeout=10).send(text=text, replace_original=True)


def _decide(payload: dict, config) -> str:
    actions = payload.get("actions") or []
    action = actions[0] if actions else {}
    if action.get("action_id") != "allot_approve":
        return "Nothing to do for that button."
    token = action.get("value", "")
    check = link_check(token)
    if not check.usable:
        return check.refusal
    try:
        profile = slack_client(config).users_info(user=payload["user"]["id"])["user"]["profile"]
    except (SlackApiError, KeyError):
        return "Slack did not say who pressed the button. Nothing was decided."
    if (profile.get("email") or "").lower() != (check.approver.email or "").lower():
        return "This button is for someone else. Nothing was decided."
    try:
        decided = decision_link_use(token=token, approve=True)
    except AllotError as error:
        return error.message
    return f"You approved step {check.step.index + 1} of {decided}."


@csrf_exempt  # Slack signs its requests instead (verified below, before anything is read)
@require_POST
def slack_interactivity(request: HttpRequest) -> HttpResponse:
    config = slack_settings()
    if config is None or not config.signing_secret:
        return HttpResponse("Slack is not set up.", status=404)
    verifier = SignatureVerifier(config.signing_secret)
    if not verifier.is_valid(
        body=request.body.decode("utf-8", "replace"),
        timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
        signature=request.headers.get("X-Slack-Signature", ""),
    ):
        return HttpResponse("X-Slack-Signature: not a valid signature.", status=401)
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except json.JSONDecodeError:
        return HttpResponse("payload: not JSON.", status=400)
    text = _decide(payload, config)
    _answer(payload, text)
    logger.info("slack interactivity: %s", text)
    return HttpResponse(status=200)
