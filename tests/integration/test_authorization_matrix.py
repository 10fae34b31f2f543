"""Who may call what: every route the app serves, called by every kind of caller, against the status it must answer.

ROUTES holds one row per (method, path template), naming the rule that route follows (public, the least
role, or "only on your own slot/token/swap"); the expected status of each caller is derived from the
rule, never written by hand. The rows are checked against the app's own route table, so a route added
without a row (or a row left behind by a removed route) fails the suite with its name.

How the app answers (app/routes/access.py, app/routes/api/access.py, app/routes/errors.py):
- pages under /ws/{slug}/ authenticate by the session cookie only: without one, 303 to /login?next=…;
  a workspace you are not in, 404; a role below the handler's opt["role"], 403;
- the JSON API authenticates by Bearer token only: none, garbage or revoked, 401; a token of another
  workspace, 404; a role too low, 403 (all as application/problem+json);
- role members change only slots they hold (app/services/overrides.py): another member's slot is 403;
  only the person asked may answer a swap (admins included: 403); tokens of others are 404 to
  non-admins (app/services/tokens.py revoke_workspace_token); calendar feeds of others are 404 to
  everyone, admins included (app/services/calendar_feeds.py revoke_feed);
- a calendar feed's URL names it by a secret token: whoever holds the URL reads it, signed in or not.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar, get
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Environment, Settings
from app.db.models import ApiToken, Invitation, Membership, OnCallSchedule, OnCallSlot, UserProfile
from app.domain.roles import Role
from app.main import STATIC_DIR, create_app
from app.services import accounts
from app.services.alert_sources import create_source
from app.services.calendar_feeds import create_feed
from app.services.heartbeats import create_monitor
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.incidents import declare_incident
from app.services.onboarding import invite
from app.services.overrides import edit_slot, propose_swap
from app.services.pagerduty import create_service
from app.services.paging import Pace
from app.services.policies import create_policy
from app.services.schedules import create_schedule
from app.services.tokens import issue_token, revoke_token
from tests.factories import PASSWORD, Team, make_team
from tests.fakes.servers import FakeServer
from tests.web import csrf_token, login

SAFE_METHODS = frozenset({"GET", "HEAD"})
REFUSALS = frozenset({401, 403, 404})
PROBLEM_JSON = "application/problem+json"
STATIC_FILE = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())[0]

# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """Who a route lets in. `role` None with `fixed` None means anyone, signed in or not."""

    name: str
    role: Role | None = None
    # Everyone gets exactly this status: routes authenticated by something no caller here has.
    fixed: int | None = None
    # The object in the URL must be the caller's own (their slot, their token, a swap asked of them)…
    own: bool = False
    # …unless they are an admin or owner, who act on anyone's…
    admins_bypass: bool = True
    # …and otherwise this is the answer.
    refused: int = 403
    # Outside any workspace: anyone signed in (by the session) is let in…
    signed_in: bool = False
    # …or only the installation's administrators (acme's owner is one here; everyone else gets 403).
    installation_admin: bool = False


PUBLIC = Rule("public")
VIEWER = Rule("viewer", Role.VIEWER)
MEMBER = Rule("member", Role.MEMBER)
ADMIN = Rule("admin", Role.ADMIN)
# Role member or above; role members only on a slot they hold (admins and owners on any).
SELF_SLOT = Rule("self-slot", Role.MEMBER, own=True)
# Anyone in the workspace revokes their own tokens; admins anyone's; someone else's is hidden (404).
OWN_TOKEN = Rule("own-token", Role.VIEWER, own=True, refused=404)
# A calendar feed is its owner's alone: someone else's is hidden (404), from admins and owners too.
OWN_FEED = Rule("own-feed", Role.VIEWER, own=True, admins_bypass=False, refused=404)
# Only the person a swap was asked of may accept or decline it, admins and owners included.
SWAP_TARGET = Rule("swap-target", Role.MEMBER, own=True, admins_bypass=False)
# Webhooks are authenticated by the provider's signature (checked before anything is read); a
# cookie or token changes nothing, so an unsigned call is refused the same way for everyone.
SLACK_SIGNED = Rule("slack-signature", fixed=401)
TWILIO_SIGNED = Rule("twilio-signature", fixed=403)
# PagerDuty's webhook URL names its connection by a token (an unknown one is 404); for a real one, the
# call is refused unless X-PagerDuty-Signature matches that connection's secret.
PAGERDUTY_SIGNED = Rule("pagerduty-signature", fixed=401)
# Litestar's catch-all under /schema answers 404 for any path it does not render.
SCHEMA_NOT_FOUND = Rule("schema-not-found", fixed=404)
# The first-run page is gone once anyone has an account; one-time links unknown to us are 404.
SET_UP = Rule("set-up-already", fixed=404)
UNKNOWN_LINK = Rule("unknown-one-time-link", fixed=404)
# A calendar feed's URL carries its secret token: anyone holding a real one reads the feed (a cookie,
# a Bearer token or another workspace changes nothing; an unknown or revoked token is 404 for all).
FEED_LINK = Rule("secret-feed-link")
# An alert source's URL carries its secret token the same way: whoever holds a real one may post
# (Alertmanager and Grafana send no credentials); an unknown token is 404 for everyone.
ALERT_LINK = Rule("secret-alert-link")
# A heartbeat monitor's ping URL too (cron jobs send no credentials).
HEARTBEAT_LINK = Rule("secret-heartbeat-link")
SIGNED_IN = Rule("signed-in", signed_in=True)
INSTALLATION_ADMIN = Rule("installation-admin", signed_in=True, installation_admin=True)


@dataclass(frozen=True)
class Row:
    """A route's rule and how to call it: which arranged objects fill its ids, and what body to send.

    `objects` names a World.make_<objects> method; allowed callers of a mutating route get objects of
    their own, so what one of them changes cannot change the answer another one gets. Body values are
    formatted with the case's values ({other_email}, {schedule_id}, …); an empty form is fine where an
    allowed caller then gets the form's 422, since only the authorization is under test here.
    """

    rule: Rule
    objects: str = ""
    body: Mapping[str, Any] | None = None
    # Logging in or out replaces the caller's session, so these run after everything else.
    ends_session: bool = False


WS = "/ws/{slug}"
API = "/api/v1/ws/{slug}"
SCHEDULE = WS + "/oncall/schedules/{schedule_id}"
API_SCHEDULE = API + "/schedules/{schedule_id}"
NEW_SCHEDULE = {
    "name": "Matrix via the API {case}",
    "rotation": "weekly",
    "timezone": "UTC",
    "handoff_time": "09:00",
    "handoff_weekday": 0,
    "members": ["{member_email}", "{ann_email}"],
}
NEW_INCIDENT = {"title": "Matrix incident {case}", "severity": "SEV4", "schedule_id": "{schedule_id}"}
NEW_POLICY = {
    "name": "Matrix policy {case}",
    "repeat": 1,
    "steps": [{"delay_minutes": 5, "targets": [{"schedule_id": "{schedule_id}"}, {"user": "{member_email}"}]}],
}
POLICY = WS + "/escalation-policies/{policy_id}"
API_POLICY = API + "/escalation-policies/{policy_id}"
PAGERDUTY = WS + "/settings/integrations/pagerduty"
NEW_PAGERDUTY_SERVICE = {
    "label": "Matrix PD {case}",
    "routing_key": "R0UTINGKEY" + "m" * 22,
    "signing_secret": "matrix-signing-secret",
}

ALERT_SOURCES = WS + "/settings/alert-sources"
NEW_ALERT_SOURCE = {"name": "Matrix alerts {case}", "kind": "generic", "schedule_id": "{schedule_id}"}
NEW_HEARTBEAT = {"name": "Matrix heartbeat {case}", "interval_minutes": 60, "schedule_id": "{schedule_id}"}

ROUTES: dict[tuple[str, str], Row] = {
    # -------- outside any workspace
    ("GET", "/"): Row(PUBLIC),
    ("GET", "/login"): Row(PUBLIC),
    ("POST", "/login"): Row(PUBLIC, body={"email": "{probe_email}", "password": PASSWORD}, ends_session=True),
    ("POST", "/logout"): Row(PUBLIC, ends_session=True),
    ("GET", "/healthz"): Row(PUBLIC),
    ("GET", "/healthz/db"): Row(PUBLIC),
    ("GET", "/healthz/engine"): Row(PUBLIC),
    ("GET", "/metrics"): Row(PUBLIC),  # no VIGILO_METRICS_TOKEN here (tests/integration/test_engine_health.py)
    ("GET", "/static/{file_path}"): Row(PUBLIC),
    ("HEAD", "/static/{file_path}"): Row(PUBLIC),
    ("GET", "/schema"): Row(PUBLIC),
    ("GET", "/schema/openapi.json"): Row(PUBLIC),
    ("GET", "/schema/openapi.yaml"): Row(PUBLIC),
    ("GET", "/schema/openapi.yml"): Row(PUBLIC),
    ("GET", "/schema/{path}"): Row(SCHEMA_NOT_FOUND),
    ("POST", "/integrations/slack/events"): Row(SLACK_SIGNED, body={}),
    ("POST", "/integrations/twilio_sms"): Row(TWILIO_SIGNED, body={}),
    ("POST", "/integrations/twilio_status"): Row(TWILIO_SIGNED, body={}),
    ("POST", "/integrations/twilio_voice/answer/{call_id}"): Row(TWILIO_SIGNED, body={}),
    ("POST", "/integrations/twilio_voice/status"): Row(TWILIO_SIGNED, body={}),
    ("POST", "/integrations/pagerduty/{token}"): Row(PAGERDUTY_SIGNED, "pagerduty_service", body={}),
    ("GET", "/calendar/{name}"): Row(FEED_LINK, "feed"),
    ("POST", "/integrations/alerts/{token}"): Row(ALERT_LINK, "alert_source", body={}),
    ("GET", "/integrations/heartbeats/{token}"): Row(HEARTBEAT_LINK, "heartbeat"),
    ("POST", "/integrations/heartbeats/{token}"): Row(HEARTBEAT_LINK, "heartbeat", body={}),
    ("GET", "/setup"): Row(SET_UP),
    ("POST", "/setup"): Row(SET_UP, body={}),
    ("GET", "/invite/{token}"): Row(UNKNOWN_LINK),
    ("POST", "/invite/{token}"): Row(UNKNOWN_LINK, body={}),
    ("GET", "/password/{token}"): Row(UNKNOWN_LINK),
    ("POST", "/password/{token}"): Row(UNKNOWN_LINK, body={"password": "long enough password"}),
    ("GET", "/invitations"): Row(SIGNED_IN),
    ("POST", "/invitations/{invitation_id}/{answer}"): Row(SIGNED_IN, body={}),
    ("GET", "/workspaces"): Row(INSTALLATION_ADMIN),
    ("POST", "/workspaces"): Row(INSTALLATION_ADMIN, body={}),
    # -------- pages
    ("GET", WS): Row(VIEWER),
    ("GET", WS + "/people"): Row(VIEWER),
    ("POST", WS + "/people"): Row(ADMIN, body={}),
    ("POST", WS + "/people/{membership_id}"): Row(ADMIN, body={"role": "viewer", "is_active": "on"}),
    ("POST", WS + "/people/{membership_id}/clear-contacts"): Row(ADMIN, body={}),
    ("POST", WS + "/people/{membership_id}/reset-link"): Row(ADMIN, body={}),
    ("POST", WS + "/people/{membership_id}/test-page"): Row(ADMIN, body={}),
    ("POST", WS + "/people/invitations/{invitation_id}/revoke"): Row(ADMIN, "invitation", body={}),
    ("GET", WS + "/profile"): Row(VIEWER),
    ("POST", WS + "/profile"): Row(VIEWER, body={}),
    ("POST", WS + "/profile/contact/{kind}/send"): Row(VIEWER, body={}),
    ("POST", WS + "/profile/contact/{kind}/verify"): Row(VIEWER, body={}),
    ("POST", WS + "/profile/contact/{kind}/remove"): Row(VIEWER, body={}),
    ("POST", WS + "/profile/slack-lookup"): Row(VIEWER, body={}),
    ("POST", WS + "/profile/test-page"): Row(VIEWER, body={}),
    ("POST", WS + "/profile/paging"): Row(VIEWER, body={"page_by": "sms", "voice_after_minutes": "0"}),
    ("POST", WS + "/profile/reminders"): Row(VIEWER, body={"reminder_minutes": "0", "reminder_channels": "slack"}),
    ("GET", WS + "/settings"): Row(VIEWER),
    ("GET", WS + "/settings/integrations"): Row(ADMIN),
    ("POST", WS + "/settings/integrations/slack-channel"): Row(ADMIN, body={"channel": "C0INCIDENT"}),
    ("POST", PAGERDUTY): Row(ADMIN, body={}),
    ("POST", PAGERDUTY + "/{service_id}/keys"): Row(ADMIN, "pagerduty_service", body={}),
    ("POST", PAGERDUTY + "/{service_id}/test"): Row(ADMIN, "pagerduty_service", body={}),
    ("POST", PAGERDUTY + "/{service_id}/delete"): Row(ADMIN, "pagerduty_service", body={}),
    ("GET", WS + "/engine-status"): Row(ADMIN),
    ("GET", ALERT_SOURCES + "/new"): Row(ADMIN),
    ("POST", ALERT_SOURCES): Row(ADMIN, body={}),
    ("GET", ALERT_SOURCES + "/{source_id}/edit"): Row(ADMIN, "alert_source"),
    ("POST", ALERT_SOURCES + "/{source_id}"): Row(ADMIN, "alert_source", body={}),
    ("POST", ALERT_SOURCES + "/{source_id}/rotate"): Row(ADMIN, "alert_source", body={}),
    ("POST", ALERT_SOURCES + "/{source_id}/delete"): Row(ADMIN, "alert_source", body={}),
    ("POST", ALERT_SOURCES + "/{source_id}/silence"): Row(ADMIN, "alert_source", body={"minutes": "60"}),
    ("POST", ALERT_SOURCES + "/silence"): Row(ADMIN, body={"minutes": "60"}),
    ("POST", WS + "/settings/tokens"): Row(VIEWER, body={"name": "matrix"}),
    ("POST", WS + "/settings/tokens/{token_id}/revoke"): Row(OWN_TOKEN, "token", body={}),
    ("POST", WS + "/settings/feeds"): Row(VIEWER, body={}),
    ("POST", WS + "/settings/feeds/{feed_id}/revoke"): Row(OWN_FEED, "feed", body={}),
    ("GET", WS + "/oncall"): Row(VIEWER),
    ("GET", WS + "/oncall/schedules/new"): Row(ADMIN),
    ("POST", WS + "/oncall/schedules/new"): Row(ADMIN, body={}),
    ("GET", SCHEDULE): Row(VIEWER),
    ("GET", SCHEDULE + "/edit"): Row(ADMIN),
    ("POST", SCHEDULE + "/edit"): Row(ADMIN, "admin_schedule", body={}),
    ("POST", SCHEDULE + "/extend"): Row(ADMIN, "admin_schedule", body={}),
    ("POST", SCHEDULE + "/regenerate"): Row(ADMIN, "admin_schedule", body={}),
    ("POST", SCHEDULE + "/active"): Row(ADMIN, "admin_schedule", body={"active": "true"}),
    ("POST", SCHEDULE + "/delete"): Row(ADMIN, "doomed_schedule", body={}),
    ("GET", SCHEDULE + "/handoff"): Row(MEMBER),
    ("POST", SCHEDULE + "/handoff"): Row(SELF_SLOT, "handoff", body={"to": "{other_email}"}),
    ("GET", WS + "/oncall/slots/{slot_id}/edit"): Row(SELF_SLOT, "slot"),
    ("POST", WS + "/oncall/slots/{slot_id}"): Row(SELF_SLOT, "slot", body={"user": "{other_email}"}),
    ("POST", WS + "/oncall/slots/{slot_id}/remove"): Row(SELF_SLOT, "override", body={}),
    ("POST", WS + "/oncall/swaps"): Row(MEMBER, body={"slot": "{my_slot}", "their_slot": "{their_slot}"}),
    ("POST", WS + "/oncall/swaps/{swap_id}/{decision}"): Row(SWAP_TARGET, "swap", body={}),
    ("GET", WS + "/my-shifts"): Row(VIEWER),
    ("GET", WS + "/reports/oncall"): Row(VIEWER),
    ("GET", WS + "/reports/oncall.csv"): Row(VIEWER),
    ("GET", WS + "/incidents"): Row(VIEWER),
    ("POST", WS + "/incidents"): Row(MEMBER, body={}),
    ("GET", WS + "/incidents/{incident_id}"): Row(VIEWER),
    ("POST", WS + "/incidents/{incident_id}/ack"): Row(MEMBER, body={}),
    ("POST", WS + "/incidents/{incident_id}/decline"): Row(MEMBER, body={}),
    ("POST", WS + "/incidents/{incident_id}/resolve"): Row(MEMBER, "incident", body={}),
    ("POST", WS + "/incidents/{incident_id}/escalate"): Row(MEMBER, "incident", body={}),
    ("POST", WS + "/incidents/{incident_id}/responders"): Row(MEMBER, "incident", body={"user": "{ann_email}"}),
    ("GET", WS + "/escalation-policies"): Row(VIEWER),
    ("GET", WS + "/escalation-policies/new"): Row(ADMIN),
    ("POST", WS + "/escalation-policies/new"): Row(ADMIN, body={}),
    ("GET", POLICY): Row(ADMIN, "policy"),
    ("POST", POLICY): Row(ADMIN, "policy", body={}),
    ("POST", POLICY + "/delete"): Row(ADMIN, "policy", body={}),
    # -------- JSON API
    ("GET", API + "/members"): Row(VIEWER),
    ("GET", API + "/me"): Row(VIEWER),
    ("PATCH", API + "/me"): Row(VIEWER, body={"voice_after_minutes": 0}),
    ("GET", API + "/oncall"): Row(VIEWER),
    ("GET", API + "/schedules"): Row(VIEWER),
    ("POST", API + "/schedules"): Row(ADMIN, body=NEW_SCHEDULE),
    ("GET", API_SCHEDULE): Row(VIEWER),
    ("PATCH", API_SCHEDULE): Row(ADMIN, "admin_schedule", body={"escalation_delay_minutes": 15}),
    ("DELETE", API_SCHEDULE): Row(ADMIN, "doomed_schedule"),
    ("GET", API_SCHEDULE + "/slots"): Row(VIEWER),
    ("GET", API_SCHEDULE + "/oncall"): Row(VIEWER),
    ("POST", API_SCHEDULE + "/extend"): Row(ADMIN, "admin_schedule", body={}),
    ("POST", API_SCHEDULE + "/regenerate"): Row(ADMIN, "admin_schedule", body={}),
    ("POST", API_SCHEDULE + "/handoff"): Row(SELF_SLOT, "handoff", body={"to": "{other_email}"}),
    ("PATCH", API + "/slots/{slot_id}"): Row(SELF_SLOT, "slot", body={"user": "{other_email}"}),
    ("DELETE", API + "/slots/{slot_id}"): Row(SELF_SLOT, "override"),
    ("POST", API + "/incidents"): Row(MEMBER, body=NEW_INCIDENT),
    ("GET", API + "/incidents/{incident_id}"): Row(VIEWER),
    ("POST", API + "/incidents/{incident_id}/resolve"): Row(MEMBER, "incident", body={}),
    ("POST", API + "/incidents/{incident_id}/escalate"): Row(MEMBER, "incident", body={}),
    ("POST", API + "/incidents/{incident_id}/responders"): Row(MEMBER, "incident", body={"user": "{ann_email}"}),
    ("GET", API + "/escalation-policies"): Row(VIEWER),
    ("POST", API + "/escalation-policies"): Row(ADMIN, body=NEW_POLICY),
    ("GET", API_POLICY): Row(VIEWER, "policy"),
    ("PATCH", API_POLICY): Row(ADMIN, "policy", body={"repeat": 2}),
    ("DELETE", API_POLICY): Row(ADMIN, "policy"),
    ("GET", API + "/pagerduty-services"): Row(ADMIN),
    ("POST", API + "/pagerduty-services"): Row(ADMIN, body=NEW_PAGERDUTY_SERVICE),
    ("DELETE", API + "/pagerduty-services/{service_id}"): Row(ADMIN, "pagerduty_service"),
    ("GET", API + "/alert-sources"): Row(ADMIN),
    ("POST", API + "/alert-sources"): Row(ADMIN, body=NEW_ALERT_SOURCE),
    ("GET", API + "/alert-sources/{source_id}"): Row(ADMIN, "alert_source"),
    ("PATCH", API + "/alert-sources/{source_id}"): Row(ADMIN, "alert_source", body={"default_severity": "SEV2"}),
    ("DELETE", API + "/alert-sources/{source_id}"): Row(ADMIN, "alert_source"),
    ("POST", API + "/alert-sources/{source_id}/rotate"): Row(ADMIN, "alert_source", body={}),
    ("GET", API + "/heartbeats"): Row(ADMIN),
    ("POST", API + "/heartbeats"): Row(ADMIN, body=NEW_HEARTBEAT),
    ("DELETE", API + "/heartbeats/{monitor_id}"): Row(ADMIN, "heartbeat"),
    ("GET", API + "/incidents"): Row(VIEWER),
    ("GET", API + "/me/shifts"): Row(VIEWER),
    ("POST", API + "/calendar-feeds"): Row(VIEWER, body={}),
    ("DELETE", API + "/calendar-feeds/{feed_id}"): Row(OWN_FEED, "feed"),
    ("GET", API + "/reports/oncall"): Row(VIEWER),
}

# ---------------------------------------------------------------- the route table


def _template(path: str) -> str:
    """The table's key for a route path: "/ws/{slug:str}/x" becomes "/ws/{slug}/x" (names, not converters)."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def _is_automatic_options(handler: HTTPRouteHandler) -> bool:
    # Litestar answers OPTIONS on every path itself (Allow header, 204); no handler of ours.
    fn = handler.fn
    return (
        handler.http_methods == {"OPTIONS"}
        and getattr(fn, "__name__", "") == "options_handler"
        and getattr(fn, "__module__", "") == "litestar.routes.http"
    )


def served_routes(app: Litestar) -> dict[tuple[str, str], list[HTTPRouteHandler]]:
    """Every (method, path template) the app answers, with its handlers; non-HTTP routes by their kind."""
    served: dict[tuple[str, str], list[HTTPRouteHandler]] = {}
    for route in app.routes:
        template = _template(route.path)
        if not isinstance(route, HTTPRoute):
            # A websocket or mounted ASGI app would need a rule of its own.
            served.setdefault((type(route).__name__.removesuffix("Route").upper(), template), [])
            continue
        for handler in route.route_handlers:
            if _is_automatic_options(handler):
                continue
            for method in handler.http_methods:
                served.setdefault((method, template), []).append(handler)
    return served


def coverage_problems(app: Litestar, table: Mapping[tuple[str, str], Row] = ROUTES) -> list[str]:
    """What keeps the matrix from covering the app exactly: routes without rows, rows without routes,
    and rows whose role differs from the one the handler declares in opt["role"]."""
    served = served_routes(app)
    problems = [
        f"{method} {path} is served but has no row in ROUTES: add one saying who may call it"
        for method, path in sorted(served.keys() - table.keys())
    ]
    problems += [
        f"{method} {path} has a row in ROUTES but the app no longer serves it: remove the row"
        for method, path in sorted(table.keys() - served.keys())
    ]
    for key in sorted(served.keys() & table.keys()):
        for handler in served[key]:
            declared = handler.opt.get("role")
            if declared is not None and declared != table[key].rule.role:
                problems.append(
                    f"{key[0]} {key[1]}: the handler declares opt['role']={declared}, "
                    f"ROUTES says {table[key].rule.name}"
                )
    return problems


# ---------------------------------------------------------------- callers

TEAMS: dict[str, dict[str, Role]] = {
    "acme": {
        "owner": Role.OWNER,
        "admin": Role.ADMIN,
        "member": Role.MEMBER,  # the role member whose own slots, tokens and swaps are tested
        "ann": Role.MEMBER,  # another role member: "another member's slot" is hers
        "ben": Role.MEMBER,
        "viewer": Role.VIEWER,
        "dora": Role.VIEWER,  # changed on the People page, and whom POST /login signs in
    },
    "globex": {"owner": Role.OWNER, "admin": Role.ADMIN},
}
ROTATION = ("member", "ann", "ben")


@dataclass(frozen=True)
class Person:
    slug: str
    key: str

    @property
    def role(self) -> Role:
        return TEAMS[self.slug][self.key]


@dataclass(frozen=True)
class Caller:
    """Which credentials a request carries. A person caller is signed in and also sends their own API
    token: pages go by the session, the API by the token. The token-only and cookie-only callers then
    show that neither credential stands in for the other."""

    name: str
    session: Person | None = None
    token: Person | None = None
    revoked: bool = False
    # Acts on objects it holds itself (the member's own slot, token, swap); otherwise on another member's.
    own: bool = False


OWNER_P, ADMIN_P, MEMBER_P, VIEWER_P = (Person("acme", k) for k in ("owner", "admin", "member", "viewer"))
OUTSIDER = Person("globex", "admin")

CALLERS = (
    Caller("anonymous"),
    Caller("viewer", VIEWER_P, VIEWER_P),
    Caller("member on their own slot", MEMBER_P, MEMBER_P, own=True),
    Caller("member on another member's slot", MEMBER_P, MEMBER_P),
    Caller("admin", ADMIN_P, ADMIN_P),
    Caller("owner", OWNER_P, OWNER_P),
    Caller("admin of another workspace", OUTSIDER, OUTSIDER),
    Caller("viewer token", token=VIEWER_P),
    Caller("member token (own slot)", token=MEMBER_P, own=True),
    Caller("admin token", token=ADMIN_P),
    Caller("owner token", token=OWNER_P),
    Caller("revoked admin token", token=ADMIN_P, revoked=True),
    Caller("owner session cookie, no token", session=OWNER_P),
)


def expected_status(rule: Rule, path: str, caller: Caller) -> int | None:
    """The status `caller` must get from a route following `rule`; None when it must be let through."""
    if rule.fixed is not None:
        return rule.fixed
    if rule.signed_in:
        if caller.session is None:
            return 303  # to /login?next=…
        if rule.installation_admin and caller.session != OWNER_P:
            return 403
        return None
    if rule.role is None:
        return None
    if path.startswith("/api/"):
        if caller.token is None or caller.revoked:
            return 401
        who = caller.token
    else:
        if caller.session is None:
            return 303  # to /login?next=…
        who = caller.session
    if who.slug != "acme":
        return 404
    if not who.role.at_least(rule.role):
        return 403
    if rule.own and not caller.own and not (rule.admins_bypass and who.role.at_least(Role.ADMIN)):
        return rule.refused
    return None


# ---------------------------------------------------------------- the arrangement


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class World:
    """The workspaces, people and objects the cases point at. Objects for denied callers are shared;
    each allowed call of a mutating route gets its own, so no case changes another's answer."""

    db: AsyncSession
    settings: Settings
    acme: Team
    globex: Team
    values: dict[str, str] = field(default_factory=dict)
    shared: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    made: int = 0

    def access(self, key: str) -> WorkspaceAccess:
        return WorkspaceAccess(WorkspaceRef.of(self.acme.workspace), UserRef.of(self.acme[key]), TEAMS["acme"][key])

    async def new_schedule(self, first: str) -> OnCallSchedule:
        """A weekly rotation of ROTATION in which `first` holds the slot running now (for ~3 more days).

        Weekly keeps it to a few slots over the 8-week horizon, so a schedule per case stays cheap."""
        self.made += 1
        now = _now()
        order = [first, *(k for k in ROTATION if k != first)]
        body = {
            "name": f"Matrix {self.made}",
            "rotation": "weekly",
            "timezone": "UTC",
            "handoff_weekday": (now + datetime.timedelta(days=3)).weekday(),
            "handoff_time": now.strftime("%H:%M"),
            "starts_at": (now - datetime.timedelta(hours=1)).isoformat(),
            "members": [self.acme[k].email for k in order],
            "escalation_to": self.acme["owner"].email,
        }
        return await create_schedule(self.db, self.acme.workspace.id, body, now)

    async def future_slot(self, schedule_id: object, key: str) -> OnCallSlot:
        slot = await self.db.scalar(
            select(OnCallSlot)
            .where(
                OnCallSlot.schedule_id == schedule_id,
                OnCallSlot.user_id == self.acme[key].id,
                OnCallSlot.start_time > _now(),
            )
            .order_by(OnCallSlot.start_time)
            .limit(1)
        )
        await self.db.commit()
        assert slot is not None, f"{key} holds no future slot"
        return slot

    async def setup(self) -> None:
        owner = await self.db.get_one(UserProfile, self.acme["owner"].id)
        owner.is_installation_admin = True  # the Workspaces page lets them in, and nobody else
        await self.db.commit()
        main = await self.new_schedule("member")
        admin_ops = await self.new_schedule("ann")
        dora = await self.db.scalar(select(Membership.id).where(Membership.user_id == self.acme["dora"].id))
        await self.db.commit()
        self.values = {
            "slug": "acme",
            "schedule_id": str(main.id),
            "admin_schedule_id": str(admin_ops.id),
            "membership_id": str(dora),
            "my_slot": str((await self.future_slot(main.id, "member")).id),
            "their_slot": str((await self.future_slot(main.id, "ann")).id),
            "decision": "accept",
            "kind": "phone",
            "token": "no-such-one-time-token",
            "invitation_id": "00000000-0000-4000-8000-000000000000",  # nobody's: answered with a notice
            "call_id": "00000000-0000-4000-8000-000000000001",  # no such call: the signature is refused first
            "answer": "accept",
            "file_path": STATIC_FILE,
            "path": "no-such-schema-file",
            "probe_email": self.acme["dora"].email,
            "member_email": self.acme["member"].email,
            "ann_email": self.acme["ann"].email,
        }
        self.values |= await self.make_incident("")

    async def objects(self, kind: str, own: bool, fresh: bool) -> dict[str, str]:
        """Ids for a row's `objects`: held by the member when `own`, by ann otherwise."""
        holder, other = ("member", "ann") if own else ("ann", "member")
        if not fresh and (kind, holder) in self.shared:
            return self.shared[(kind, holder)]
        made: dict[str, str] = await getattr(self, f"make_{kind}")(holder)
        made["other_email"] = self.acme[other].email
        if not fresh:
            self.shared[(kind, holder)] = made
        return made

    async def make_admin_schedule(self, _holder: str) -> dict[str, str]:
        # Extend, regenerate, (re)activate and edit leave it usable, so every caller shares it.
        return {"schedule_id": self.values["admin_schedule_id"]}

    async def make_doomed_schedule(self, _holder: str) -> dict[str, str]:
        return {"schedule_id": str((await self.new_schedule("ben")).id)}

    async def make_handoff(self, holder: str) -> dict[str, str]:
        return {"schedule_id": str((await self.new_schedule(holder)).id)}

    async def make_slot(self, holder: str) -> dict[str, str]:
        schedule = await self.new_schedule("ben")
        return {"slot_id": str((await self.future_slot(schedule.id, holder)).id)}

    async def make_override(self, holder: str) -> dict[str, str]:
        schedule = await self.new_schedule("ben")
        taken = await self.future_slot(schedule.id, "ben")
        result = await edit_slot(self.db, self.access("owner"), taken.id, {"user": self.acme[holder].email}, _now())
        return {"slot_id": str(result.slots[0].id)}

    async def make_swap(self, holder: str) -> dict[str, str]:
        # Asked of the member by ann (their own), or of ann by ben (another member's).
        asker = "ann" if holder == "member" else "ben"
        schedule = await self.new_schedule("ben")
        mine = await self.future_slot(schedule.id, asker)
        theirs = await self.future_slot(schedule.id, holder)
        swap = await propose_swap(self.db, self.access(asker), str(mine.id), str(theirs.id), _now())
        return {"swap_id": str(swap.id)}

    async def make_incident(self, _holder: str) -> dict[str, str]:
        self.made += 1
        incident = await declare_incident(
            self.db,
            self.access("owner"),
            f"Matrix incident {self.made}",
            "SEV4",
            self.values["schedule_id"],
            _now(),
            self.settings.seconds_per_delay_minute,
            self.settings.public_url,
        )
        return {"incident_id": str(incident.id)}

    async def make_policy(self, _holder: str) -> dict[str, str]:
        self.made += 1
        body = {
            "name": f"Matrix policy {self.made}",
            "steps": [{"delay_minutes": 5, "targets": [{"schedule_id": self.values["schedule_id"]}]}],
        }
        return {"policy_id": str((await create_policy(self.db, self.acme.workspace.id, body)).id)}

    async def make_pagerduty_service(self, _holder: str) -> dict[str, str]:
        """A PagerDuty connection: its id, and its inbound URL's token (the webhook row's {token})."""
        self.made += 1
        body = {
            "label": f"Matrix PD {self.made}",
            "routing_key": f"R0UTINGKEY{self.made:022d}",
            "signing_secret": "matrix-signing-secret",
        }
        service, token = await create_service(self.db, self.acme.workspace.id, self.settings.secret_key, body)
        return {"service_id": str(service.id), "token": token}

    async def make_alert_source(self, _holder: str) -> dict[str, str]:
        """An alert source: its id, and its URL's token (the alert webhook row's {token})."""
        self.made += 1
        body = {"name": f"Matrix alerts {self.made}", "kind": "alertmanager", "schedule_id": self.values["schedule_id"]}
        source, token = await create_source(self.db, self.acme.workspace.id, body)
        return {"source_id": str(source.id), "token": token}

    async def make_heartbeat(self, _holder: str) -> dict[str, str]:
        """A heartbeat monitor: its id, and its ping URL's token (the ping rows' {token})."""
        self.made += 1
        body = {
            "name": f"Matrix heartbeat {self.made}",
            "interval_minutes": 60,
            "schedule_id": self.values["schedule_id"],
        }
        monitor, token = await create_monitor(self.db, self.acme.workspace.id, body, _now(), Pace(60.0, ""))
        return {"monitor_id": str(monitor.id), "token": token}

    async def make_invitation(self, _holder: str) -> dict[str, str]:
        self.made += 1
        await invite(self.db, self.access("owner"), f"invited{self.made}@acme.test", "member", _now())
        found = await self.db.scalar(select(Invitation.id).where(Invitation.email == f"invited{self.made}@acme.test"))
        await self.db.commit()
        return {"invitation_id": str(found)}

    async def make_token(self, holder: str) -> dict[str, str]:
        token = await issue_token(self.db, self.acme.workspace.id, self.acme[holder].id, "to revoke")
        token_id = await self.db.scalar(select(ApiToken.id).where(ApiToken.prefix == token[:12]))
        await self.db.commit()
        return {"token_id": str(token_id)}

    async def make_feed(self, holder: str) -> dict[str, str]:
        """A personal calendar feed of the holder: its id, and its URL's last part (the feed row's {name})."""
        feed, token = await create_feed(self.db, self.access(holder), None, _now())
        return {"feed_id": str(feed.id), "name": f"{token}.ics"}


# ---------------------------------------------------------------- running the cases


@dataclass(frozen=True)
class Case:
    method: str
    template: str
    row: Row
    caller: Caller
    expected: int | None

    @property
    def phase(self) -> int:
        """Denied calls first (they change nothing), then allowed reads, writes, and log-ins and -outs."""
        if self.expected is not None:
            return 0
        if self.method in SAFE_METHODS:
            return 1
        return 3 if self.row.ends_session else 2

    def __str__(self) -> str:
        return f"{self.method} {self.template} as {self.caller.name}"


def all_cases() -> list[Case]:
    cases = [
        Case(method, template, row, caller, expected_status(row.rule, template, caller))
        for (method, template), row in ROUTES.items()
        for caller in CALLERS
    ]
    return sorted(cases, key=lambda case: case.phase)


@dataclass
class Credentials:
    cookies: httpx.Cookies
    csrf: str
    authorization: str | None


def _fill(template: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _format(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, list):
        return [_format(item, values) for item in value]
    return value


def _summary(response: httpx.Response) -> str:
    location = response.headers.get("location")
    if location:
        return f"→ {location}"
    if response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return str(response.json().get("detail"))
    title = re.search(r"<title>\s*(.*?)\s*</title>", response.text, re.DOTALL)
    return title.group(1) if title else " ".join(response.text.split())[:160]


def judge(case: Case, response: httpx.Response) -> str | None:
    """What is wrong with `response` for `case`, or None."""
    status = response.status_code
    got = f"got {status} ({_summary(response)})"
    location = response.headers.get("location", "")
    if case.expected is None:
        if status >= 500 or status in REFUSALS:
            return f"{case}: must be let through (no 401/403/404, and a 5xx is always a bug); {got}"
        if case.row.rule.role is not None and location.startswith("/login"):
            return f"{case}: must be let through but was sent to the login page; {got}"
        return None
    if status != case.expected:
        return f"{case}: expected {case.expected} ({case.row.rule.name} rule); {got}"
    if status == 303 and not location.startswith("/login?next="):
        return f"{case}: expected a redirect to the login page; {got}"
    if case.template.startswith("/api/") and not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return f"{case}: expected {status} as {PROBLEM_JSON}; got {response.headers.get('content-type')}"
    return None


async def sign_in(client: AsyncTestClient[Any], tokens: Mapping[str, str]) -> dict[str, Credentials]:
    """Each caller's cookie jar (a CSRF cookie for all, a session for those signed in) and header."""
    credentials: dict[str, Credentials] = {}
    signed_in: dict[Person, Credentials] = {}
    for caller in CALLERS:
        token = tokens.get(caller.name)
        authorization = f"Bearer {token}" if token else None
        if caller.session is not None and caller.session in signed_in:
            # The same person's session (a log-in costs an argon2 check); cookies are kept per caller.
            same = signed_in[caller.session]
            credentials[caller.name] = Credentials(httpx.Cookies(same.cookies), same.csrf, authorization)
            continue
        client.cookies.clear()
        csrf = await csrf_token(client)
        if caller.session is not None:
            await login(client, f"{caller.session.key}@{caller.session.slug}.test", PASSWORD)
        credentials[caller.name] = Credentials(httpx.Cookies(client.cookies), csrf, authorization)
        if caller.session is not None:
            signed_in[caller.session] = credentials[caller.name]
    return credentials


async def issue_caller_tokens(world: World) -> dict[str, str]:
    """One token per caller that sends one: the person callers share their person's, the token-only
    callers get their own, and the revoked one is revoked before any call."""
    teams = {"acme": world.acme, "globex": world.globex}
    by_person: dict[Person, str] = {}
    tokens: dict[str, str] = {}
    for caller in CALLERS:
        person = caller.token
        if person is None:
            continue
        team = teams[person.slug]
        if caller.session is not None and person in by_person:
            tokens[caller.name] = by_person[person]
            continue
        token = await issue_token(world.db, team.workspace.id, team[person.key].id, caller.name)
        if caller.session is not None:
            by_person[person] = token
        if caller.revoked:
            token_id = await world.db.scalar(select(ApiToken.id).where(ApiToken.prefix == token[:12]))
            assert token_id is not None
            await revoke_token(world.db, token_id, _now())
        tokens[caller.name] = token
    await world.db.commit()
    return tokens


async def run_case(client: AsyncTestClient[Any], world: World, case: Case, number: int, who: Credentials) -> str | None:
    values = {**world.values, "case": str(number)}
    if case.row.objects:
        mutates = case.expected is None and case.method not in SAFE_METHODS
        values |= await world.objects(case.row.objects, case.caller.own, fresh=mutates)
    headers: dict[str, str] = {}
    if who.authorization:
        headers["Authorization"] = who.authorization
    if case.method not in SAFE_METHODS:
        headers["x-csrftoken"] = who.csrf  # so a CSRF refusal never stands in for the authorization answer
    body = None if case.row.body is None else {k: _format(v, values) for k, v in case.row.body.items()}
    api = case.template.startswith("/api/")
    client.cookies = who.cookies
    response = await client.request(
        case.method,
        _fill(case.template, values),
        headers=headers,
        json=body if api else None,
        data=None if api else body,
        follow_redirects=False,
    )
    who.cookies = httpx.Cookies(client.cookies)
    return judge(case, response)


# ---------------------------------------------------------------- the tests


def _offline_settings(tmp_path: Path) -> Settings:
    # Building the app opens no connection, so these checks need no database.
    return Settings(
        env=Environment.TEST,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        public_url="http://testserver.local",
    )


def test_every_route_has_exactly_one_row(tmp_path: Path) -> None:
    problems = coverage_problems(create_app(_offline_settings(tmp_path)))
    assert not problems, "The authorization matrix does not match the app's routes:\n" + "\n".join(problems)


def test_a_route_without_a_row_is_named(tmp_path: Path) -> None:
    app = create_app(_offline_settings(tmp_path))

    @get("/ws/{slug:str}/brand-new", opt={"role": Role.VIEWER}, sync_to_thread=False)
    def brand_new(slug: str) -> str:
        return slug

    app.register(brand_new)
    stale = {**ROUTES, ("GET", "/ws/{slug}/gone"): Row(VIEWER)}
    problems = coverage_problems(app, stale)
    assert any(p.startswith("GET /ws/{slug}/brand-new is served but has no row") for p in problems), problems
    assert any(p.startswith("GET /ws/{slug}/gone has a row") for p in problems), problems
    lowered = {**ROUTES, ("GET", "/ws/{slug}/brand-new"): Row(PUBLIC)}
    assert coverage_problems(app, lowered) == [
        "GET /ws/{slug}/brand-new: the handler declares opt['role']=viewer, ROUTES says public"
    ]


def test_expected_statuses_follow_the_rules() -> None:
    """The derivation itself, on the cases the issue names."""
    callers = {caller.name: caller for caller in CALLERS}
    page, api = "/ws/{slug}/x", "/api/v1/ws/{slug}/x"
    assert expected_status(VIEWER, page, callers["anonymous"]) == 303
    assert expected_status(VIEWER, page, callers["owner token"]) == 303
    assert expected_status(VIEWER, page, callers["admin of another workspace"]) == 404
    assert expected_status(ADMIN, page, callers["member on their own slot"]) == 403
    assert expected_status(SELF_SLOT, page, callers["member on another member's slot"]) == 403
    assert expected_status(SELF_SLOT, page, callers["member on their own slot"]) is None
    assert expected_status(SELF_SLOT, api, callers["admin token"]) is None
    assert expected_status(SWAP_TARGET, page, callers["owner"]) == 403
    assert expected_status(OWN_TOKEN, page, callers["viewer"]) == 404
    assert expected_status(OWN_FEED, page, callers["owner"]) == 404
    assert expected_status(OWN_FEED, api, callers["admin token"]) == 404
    assert expected_status(OWN_FEED, api, callers["member token (own slot)"]) is None
    assert expected_status(FEED_LINK, "/calendar/x.ics", callers["admin of another workspace"]) is None
    assert expected_status(VIEWER, api, callers["owner session cookie, no token"]) == 401
    assert expected_status(VIEWER, api, callers["revoked admin token"]) == 401
    assert expected_status(VIEWER, api, callers["admin of another workspace"]) == 404
    assert expected_status(ADMIN, api, callers["member token (own slot)"]) == 403


async def test_every_route_answers_every_caller_as_its_rule_says(
    settings: Settings, db: AsyncSession, monkeypatch: pytest.MonkeyPatch, fake_pagerduty: FakeServer
) -> None:
    # The matrix signs people in some twenty times per database; argon2 at its production cost
    # (~0.3 s a hash) would be most of the run. Cheaper parameters change nothing about who gets in.
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    # "Send test event" (let through for admins) goes to the fake PagerDuty, never the real one.
    settings = replace(settings, pagerduty_events_url=fake_pagerduty.url, pagerduty_api_url=fake_pagerduty.url)
    app = create_app(settings)
    problems = coverage_problems(app)
    assert not problems, "The authorization matrix does not match the app's routes:\n" + "\n".join(problems)
    world = World(
        db,
        settings,
        await make_team(db, "acme", roles=TEAMS["acme"]),
        await make_team(db, "globex", roles=TEAMS["globex"]),
    )
    tokens = await issue_caller_tokens(world)
    cases = all_cases()
    mismatches: list[str] = []
    async with AsyncTestClient(app=app) as client:
        # After the app is up: declaring incidents and swapping slots queue messages on its broker.
        await world.setup()
        credentials = await sign_in(client, tokens)
        for number, case in enumerate(cases):
            problem = await run_case(client, world, case, number, credentials[case.caller.name])
            if problem:
                mismatches.append(problem)
    assert not mismatches, f"{len(mismatches)} of {len(cases)} calls answered wrongly:\n" + "\n".join(mismatches)
