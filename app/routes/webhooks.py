"""Slack, Twilio and PagerDuty webhooks: the signature is checked on the raw bytes before anything is read."""

from __future__ import annotations

import datetime
import logging
from typing import Any
from urllib.parse import parse_qs

from litestar import MediaType, Request, Response, post
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from app.domain.pagerduty import WebhookShapeError, read_webhook, signature_matches
from app.integrations.twilio_sms import STATUS_PATH, VOICE_ANSWER_PATH, VOICE_STATUS_PATH
from app.routes.access import settings_of
from app.routes.bodies import BodyError, json_body
from app.routes.errors import problem
from app.services import jobs
from app.services.deliveries import record_provider_status
from app.services.inbound import (
    handle_sms,
    handle_voice,
    record_inbound,
    record_rejected,
    sms_summary,
    voice_summary,
)
from app.services.pagerduty import CANNOT_DECRYPT, WEBHOOK_PATH, service_by_token
from app.services.pagerduty_inbound import event_key
from app.services.pagerduty_inbound import summary as pagerduty_summary
from app.services.sealed import unseal

logger = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
SMS_PATH = "/integrations/twilio_sms/"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _slack_signed(secret: str, raw: bytes, headers: dict[str, str]) -> bool:
    """slack-sdk's check, where a malformed timestamp, signature or body is simply not signed."""
    try:
        return SignatureVerifier(secret).is_valid_request(raw, headers)
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError):
        return False


@post("/integrations/slack/events", name="slack_events", opt={"public": True}, request_max_body_size=MAX_BODY)
async def slack_events(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    settings = settings_of(request)
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    secret = settings.slack_signing_secret
    if not secret or not _slack_signed(secret, raw, headers):
        await record_rejected(db_session, "slack", "bad or stale X-Slack-Signature", _now())
        return Response({"error": "invalid signature"}, status_code=401)
    try:
        payload = json_body(raw)
    except BodyError as exc:
        return Response({"error": str(exc), "errors": [{"field": "body", "message": str(exc)}]}, status_code=400)
    if not isinstance(payload, dict):
        return Response({"error": "the body is not a JSON object"}, status_code=400)
    if payload.get("type") == "url_verification":
        return Response({"challenge": str(payload.get("challenge", ""))}, status_code=200)
    event_id = str(payload.get("event_id") or "")
    if payload.get("type") != "event_callback" or not event_id:
        return Response({"ok": True, "ignored": "not an event callback"}, status_code=200)
    received = await record_inbound(db_session, "slack", event_id, raw.decode("utf-8", "replace"), _now())
    if not received.handled:  # new, or a retry of one whose handling never finished
        await jobs.handle_slack_event(received.row_id)
    return Response({"ok": True, "duplicate": received.duplicate}, status_code=200)


@post(SMS_PATH, name="twilio_sms", opt={"public": True}, request_max_body_size=MAX_BODY)
async def twilio_sms(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    settings = settings_of(request)
    raw = await request.body()
    # Twilio signs the URL it called plus the form fields, so the fields must be split out to check it.
    params = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
    signature = request.headers.get("x-twilio-signature", "")
    token = settings.twilio_auth_token
    if not token or not RequestValidator(token).validate(settings.public_url + SMS_PATH, params, signature):
        await record_rejected(db_session, "sms", "bad X-Twilio-Signature", _now())
        return Response("invalid signature", status_code=403, media_type=MediaType.TEXT)
    sid = params.get("MessageSid", "")
    summary = sms_summary(params.get("From", ""), params.get("Body", ""))
    try:
        received = await record_inbound(db_session, "sms", sid or f"no-sid-{_now().timestamp()}", summary, _now())
        if received.handled and received.earlier_outcome:
            text = received.earlier_outcome
        else:  # new, or a retry of one whose handling never finished: handled now
            text = await handle_sms(
                db_session,
                received.row_id,
                _now(),
                settings.seconds_per_delay_minute,
                settings.public_url,
                settings.secret_key,
            )
    except DBAPIError:
        # Recorded or not, nothing was acted on: Twilio retries, and the retry (or the sweeper) handles it.
        logger.exception("database error while handling SMS %s; asking Twilio to retry", sid)
        await db_session.rollback()
        return Response("try again", status_code=503, media_type=MediaType.TEXT, headers={"Retry-After": "5"})
    reply = MessagingResponse()
    reply.message(text)
    return Response(str(reply), media_type=MediaType.XML, status_code=200)


@post(STATUS_PATH, name="twilio_status", opt={"public": True}, request_max_body_size=MAX_BODY)
async def twilio_status(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    """Twilio's status callback for an SMS we sent: verified like the inbound SMS, then recorded."""
    settings = settings_of(request)
    raw = await request.body()
    params = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
    token = settings.twilio_auth_token
    signature = request.headers.get("x-twilio-signature", "")
    if not token or not RequestValidator(token).validate(settings.public_url + STATUS_PATH, params, signature):
        await record_rejected(db_session, "sms_status", "bad X-Twilio-Signature", _now())
        return Response("invalid signature", status_code=403, media_type=MediaType.TEXT)
    news = await record_provider_status(
        db_session, params.get("MessageSid", ""), params.get("MessageStatus", ""), params.get("ErrorCode", ""), _now()
    )
    if not news.known:  # 200 all the same: an unknown SID is not worth Twilio's retries
        logger.info("Twilio status for an SMS we do not know: %s", params.get("MessageSid", "")[:64])
    return Response("", status_code=200, media_type=MediaType.TEXT)


def _twilio_params(raw: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _twilio_signed(token: str | None, url: str, params: dict[str, str], signature: str) -> bool:
    return bool(token) and RequestValidator(token).validate(url, params, signature)


@post(
    VOICE_ANSWER_PATH + "{call_id:str}",
    name="twilio_voice_answer",
    opt={"public": True},
    request_max_body_size=MAX_BODY,
)
async def twilio_voice_answer(request: Request[Any, Any, Any], db_session: AsyncSession, call_id: str) -> Response[Any]:
    """The key pressed on a call (or none): verified, recorded once per call, acted on, and said back."""
    settings = settings_of(request)
    raw = await request.body()
    params = _twilio_params(raw)
    url = settings.public_url + VOICE_ANSWER_PATH + call_id
    if not _twilio_signed(settings.twilio_auth_token, url, params, request.headers.get("x-twilio-signature", "")):
        await record_rejected(db_session, "voice", "bad X-Twilio-Signature", _now())
        return Response("invalid signature", status_code=403, media_type=MediaType.TEXT)
    sid = params.get("CallSid", "") or f"no-sid-{_now().timestamp()}"
    summary = voice_summary(call_id, params.get("Digits", ""), params.get("AnsweredBy", ""))
    try:
        received = await record_inbound(db_session, "voice", sid, summary, _now())
        if received.handled and received.earlier_outcome:
            text = received.earlier_outcome
        else:
            text = await handle_voice(
                db_session,
                received.row_id,
                _now(),
                settings.seconds_per_delay_minute,
                settings.public_url,
                settings.secret_key,
            )
    except DBAPIError:
        # Nothing acted on: the sweeper handles a recorded key press; the caller hears to try the web.
        logger.exception("database error while handling a key pressed on call %s", sid)
        await db_session.rollback()
        text = "Sorry, that did not go through. Please acknowledge on the web or by text."
    reply = VoiceResponse()
    reply.say(text)
    reply.hangup()
    return Response(str(reply), media_type=MediaType.XML, status_code=200)


@post(VOICE_STATUS_PATH, name="twilio_voice_status", opt={"public": True}, request_max_body_size=MAX_BODY)
async def twilio_voice_status(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    """Twilio's status callback for a call we placed: ringing, answered, busy, no answer, failed."""
    settings = settings_of(request)
    raw = await request.body()
    params = _twilio_params(raw)
    if not _twilio_signed(
        settings.twilio_auth_token,
        settings.public_url + VOICE_STATUS_PATH,
        params,
        request.headers.get("x-twilio-signature", ""),
    ):
        await record_rejected(db_session, "voice_status", "bad X-Twilio-Signature", _now())
        return Response("invalid signature", status_code=403, media_type=MediaType.TEXT)
    retry_in = datetime.timedelta(seconds=60 * settings.seconds_per_delay_minute)
    news = await record_provider_status(
        db_session,
        params.get("CallSid", ""),
        params.get("CallStatus", ""),
        params.get("ErrorCode", ""),
        _now(),
        retry_in=retry_in,
        answered_by=params.get("AnsweredBy", ""),
    )
    if news.retry is not None:
        await jobs.deliver_at(news.retry, _now() + retry_in, page=True)  # a page's call, tried again
    if not news.known:
        logger.info("Twilio status for a call we do not know: %s", params.get("CallSid", "")[:64])
    return Response("", status_code=200, media_type=MediaType.TEXT)


@post(WEBHOOK_PATH + "{token:str}", name="pagerduty_webhook", opt={"public": True}, request_max_body_size=MAX_BODY)
async def pagerduty_webhook(request: Request[Any, Any, Any], db_session: AsyncSession, token: str) -> Response[Any]:
    """A PagerDuty v3 webhook: the connection named by the URL's token, its signature checked with that
    connection's secret on the raw bytes before anything is parsed, recorded once per event id and
    acted on by a worker (the sweeper handles one whose message was lost)."""
    settings = settings_of(request)
    service = await service_by_token(db_session, token)
    if service is None:
        return problem(404, "No such PagerDuty connection.")
    raw = await request.body()
    secret = unseal(settings.secret_key, service.signing_secret_sealed)
    if secret is None or not signature_matches(secret, raw, request.headers.get("x-pagerduty-signature", "")):
        reason = f"{service.label}: {CANNOT_DECRYPT}" if secret is None else "bad X-PagerDuty-Signature"
        await record_rejected(db_session, "pagerduty", reason, _now(), service.workspace_id)
        return problem(401, "The X-PagerDuty-Signature does not match this connection's signing secret.")
    try:
        body = json_body(raw)
    except BodyError as exc:
        return problem(400, str(exc), [{"field": "body", "message": str(exc)}])
    try:
        event = read_webhook(body, request.headers.get("x-webhook-id", ""))
    except WebhookShapeError as exc:
        return problem(422, str(exc), [{"field": exc.field, "message": str(exc)}])
    received = await record_inbound(
        db_session, "pagerduty", event_key(service.id, event.id), pagerduty_summary(service.id, event), _now()
    )
    if not received.handled:  # new, or a retry of one whose handling never finished
        await jobs.handle_pagerduty_event(received.row_id)
    return Response({"ok": True, "duplicate": received.duplicate}, status_code=202)
