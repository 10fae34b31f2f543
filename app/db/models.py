"""SQLAlchemy models: the entities of DESIGN.md's "Words".

Instants are `DateTimeUTC` (aware UTC in Python, on SQLite too). Ids are UUIDs.
"""

from __future__ import annotations

import datetime
import uuid

from advanced_alchemy.base import UUIDAuditBase, UUIDBase, UUIDv7Base
from advanced_alchemy.extensions.litestar.session import SessionModelMixin
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship


class UserProfile(UUIDAuditBase):
    """A person. A phone number or Slack id pages and identifies them only once verified, and a
    verified one belongs to one person in the whole installation (the partial unique indexes)."""

    __tablename__ = "user_profile"
    __table_args__ = (
        Index(
            "uq_user_profile_verified_phone",
            "phone",
            unique=True,
            postgresql_where=text("phone_verified_at IS NOT NULL"),
            sqlite_where=text("phone_verified_at IS NOT NULL"),
        ),
        Index(
            "uq_user_profile_verified_slack",
            "slack_user_id",
            unique=True,
            postgresql_where=text("slack_verified_at IS NOT NULL"),
            sqlite_where=text("slack_verified_at IS NOT NULL"),
        ),
    )

    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    phone: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    phone_verified_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    slack_user_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    slack_verified_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Said on every page until the person acts on it (e.g. "your number was shared; verify it").
    contact_notice: Mapped[str | None] = mapped_column(Text, default=None)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The installation's administrators create workspaces (the first person set up is one).
    is_installation_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Sessions that logged in before this instant are no longer valid (a password was reset).
    sessions_valid_after: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # How a page reaches their verified phone: a text, a call, or both; with both, the call comes
    # `voice_after_minutes` after the text when nobody has acknowledged (0: at once).
    page_by_sms: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    page_by_voice: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    voice_after_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A reminder before each of their shifts: minutes ahead (0 = off, 15, 60 or 1440), by Slack DM, SMS or both.
    reminder_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reminder_by_slack: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    reminder_by_sms: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    @property
    def paging_phone(self) -> str | None:
        """The phone number pages go to: only a verified one."""
        return self.phone if self.phone and self.phone_verified_at else None

    @property
    def page_by(self) -> list[str]:
        """How their verified phone pages them: "sms", "voice", or both."""
        return [way for way, on in (("sms", self.page_by_sms), ("voice", self.page_by_voice)) if on]

    @property
    def paging_slack_id(self) -> str | None:
        """The Slack id pages mention and DMs go to: only a verified one."""
        return self.slack_user_id if self.slack_user_id and self.slack_verified_at else None


class ContactVerification(UUIDBase):
    """A code sent to a phone number or Slack user that the person must type back to claim it.

    The code itself is never stored: it is an HMAC of this row's id under the secret key, computed
    again by the sender and by the check, so neither the database nor the delivery log holds it."""

    __tablename__ = "contact_verification"
    __table_args__ = (
        CheckConstraint("kind IN ('phone', 'slack')", name="kind"),
        Index("ix_contact_verification_value_at", "kind", "value", "created_at"),
        Index("ix_contact_verification_user_at", "user_id", "kind", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the code was typed back correctly, or when too many wrong tries spent it.
    closed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Workspace(UUIDAuditBase):
    __tablename__ = "workspace"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    slack_channel_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # The last incident number handed out; bumped under the workspace row lock.
    last_incident_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Maintenance for every alert source of the workspace: what arrives before then opens nothing.
    alerts_silenced_until: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Bumped by database triggers (migration 0015) in every transaction that changes a slot, a
    # schedule, a membership or a member's name: what a cached board is keyed by.
    board_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    board_tx: Mapped[int | None] = mapped_column(BigInteger, default=None)  # PostgreSQL: who bumped last


class Membership(UUIDAuditBase):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id", name="uq_membership_workspace_user"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    user: Mapped[UserProfile] = relationship(lazy="joined", innerjoin=True)
    workspace: Mapped[Workspace] = relationship(lazy="joined", innerjoin=True)


class ApiToken(UUIDAuditBase):
    __tablename__ = "api_token"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    # SHA-256 of the token: tokens are long random strings, so a fast hash is enough and lets us look them up.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class WebSession(SessionModelMixin):
    """Browser sessions, kept in the database so they survive restarts and span web processes."""

    __tablename__ = "web_session"


class LoginFailure(UUIDBase):
    """One failed login; recent rows throttle further attempts for that email and that address."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_email_at", "email", "at"),
        Index("ix_login_failure_address_at", "address", "at"),
    )

    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))


class OnCallSchedule(UUIDAuditBase):
    __tablename__ = "oncall_schedule"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="uq_oncall_schedule_workspace_name"),
        CheckConstraint("rotation IN ('daily', 'weekly', 'custom')", name="rotation"),
        CheckConstraint("escalation_delay_minutes BETWEEN 1 AND 1440", name="escalation_delay"),
        CheckConstraint("horizon_weeks BETWEEN 1 AND 52", name="horizon"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    rotation: Mapped[str] = mapped_column(String(16))
    shift_hours: Mapped[int | None] = mapped_column(Integer, default=None)
    shift_days: Mapped[int | None] = mapped_column(Integer, default=None)
    handoff_time: Mapped[datetime.time] = mapped_column(Time)
    handoff_weekday: Mapped[int | None] = mapped_column(Integer, default=None)
    time_zone: Mapped[str] = mapped_column(String(64))
    rotation_start: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    escalation_delay_minutes: Mapped[int] = mapped_column(Integer, default=15)
    escalation_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_profile.id", ondelete="SET NULL"), default=None
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    horizon_weeks: Mapped[int] = mapped_column(Integer, default=8)
    # When set, its steps replace the implicit [primary] → escalation_delay_minutes → [escalation_to].
    escalation_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("escalation_policy.id"), default=None, index=True
    )


class EscalationPolicy(UUIDAuditBase):
    """Named, ordered steps and how many times the whole chain runs again after the last one."""

    __tablename__ = "escalation_policy"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="uq_escalation_policy_workspace_name"),
        CheckConstraint("repeat BETWEEN 0 AND 5", name="repeat"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    repeat: Mapped[int] = mapped_column(Integer, default=0)


class EscalationStep(UUIDBase):
    __tablename__ = "escalation_step"
    __table_args__ = (
        UniqueConstraint("policy_id", "position", name="uq_escalation_step_position"),
        CheckConstraint("delay_minutes BETWEEN 1 AND 1440", name="delay"),
    )

    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("escalation_policy.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    delay_minutes: Mapped[int] = mapped_column(Integer)


class EscalationTarget(UUIDBase):
    """A schedule (whoever is on call in it when the step fires), a person, or a PagerDuty service."""

    __tablename__ = "escalation_target"
    __table_args__ = (
        UniqueConstraint("step_id", "position", name="uq_escalation_target_position"),
        CheckConstraint(
            "(CASE WHEN schedule_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN pagerduty_service_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_kind",
        ),
    )

    step_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("escalation_step.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("oncall_schedule.id"), default=None, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_profile.id", ondelete="CASCADE"), default=None, index=True
    )
    pagerduty_service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pagerduty_service.id"), default=None, index=True
    )


class PagerDutyService(UUIDAuditBase):
    """A PagerDuty service Vigilo pages through (Events API v2) and hears back from (v3 webhooks).

    The routing key, the webhook's signing secret and the optional REST API key are sealed
    (app/services/sealed.py); the inbound URL's token is stored as its SHA-256 and shown once."""

    __tablename__ = "pagerduty_service"
    __table_args__ = (UniqueConstraint("workspace_id", "label", name="uq_pagerduty_service_workspace_label"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(120))
    routing_key_sealed: Mapped[str] = mapped_column(Text)
    routing_key_hint: Mapped[str] = mapped_column(String(16))
    signing_secret_sealed: Mapped[str] = mapped_column(Text)
    api_key_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    webhook_token_hash: Mapped[str] = mapped_column(String(64), unique=True)


class RotationMember(UUIDBase):
    __tablename__ = "rotation_member"
    __table_args__ = (
        UniqueConstraint("schedule_id", "position", name="uq_rotation_member_position"),
        UniqueConstraint("schedule_id", "user_id", name="uq_rotation_member_user"),
    )

    schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oncall_schedule.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)


class OnCallSlot(UUIDAuditBase):
    """User `user_id` covers [start_time, end_time) of one schedule."""

    __tablename__ = "oncall_slot"
    __table_args__ = (
        CheckConstraint("end_time > start_time", name="positive"),
        Index("ix_oncall_slot_schedule_start", "schedule_id", "start_time"),
        # "Who is on call at T": slots never overlap, so it is the first slot ending after T (if it
        # started by T) — one index probe however long the history.
        Index("ix_oncall_slot_schedule_end", "schedule_id", "end_time"),
        Index("ix_oncall_slot_user_start", "user_id", "start_time"),
        ExcludeConstraint(
            ("schedule_id", "="),
            (text("tstzrange(start_time, end_time, '[)')"), "&&"),
            name="ex_oncall_slot_no_overlap",
            using="gist",
        ).ddl_if(dialect="postgresql"),
    )

    schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oncall_schedule.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"))
    start_time: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    end_time: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    is_override: Mapped[bool] = mapped_column(Boolean, default=False)


class Incident(UUIDAuditBase):
    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number", name="uq_incident_workspace_number"),
        CheckConstraint("severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')", name="severity"),
        CheckConstraint("status IN ('triggered', 'acknowledged', 'resolved')", name="status"),
        Index("ix_incident_slack_post", "slack_channel_id", "slack_ts"),
        # The sweeper's lookup: triggered incidents whose current step has run out.
        Index("ix_incident_status_escalation_due", "status", "escalation_due_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16), default="triggered")
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("oncall_schedule.id", ondelete="SET NULL"), default=None, index=True
    )
    declared_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_profile.id", ondelete="SET NULL"), default=None
    )
    slack_channel_id: Mapped[str | None] = mapped_column(String(32), default=None)
    slack_ts: Mapped[str | None] = mapped_column(String(32), default=None)
    acknowledged_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    resolved_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    escalation_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("escalation_policy.id", ondelete="SET NULL"), default=None
    )
    # The chain snapshot (app/domain/escalation.py Chain.to_json), copied when the incident opened.
    chain: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)
    # Where the chain stands: the step that fired last (None before the first) of which round, and
    # when it runs out (None once the chain is over). The deadline is the truth; a delayed message
    # only wakes us (DESIGN.md invariant 6).
    chain_step: Mapped[int | None] = mapped_column(Integer, default=None)
    chain_round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalation_due_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Page(UUIDAuditBase):
    """One user paged for one incident at one step of one round (both None for a responder added by
    hand). Its deadline is its step's; the incident's escalation_due_at drives the chain."""

    __tablename__ = "page"
    __table_args__ = (
        # A person is paged once per step and round (and once as an added responder).
        Index("uq_page_chain_user", "incident_id", "round", "step", "user_id", unique=True),
        # A PagerDuty service is triggered once per step and round.
        Index(
            "uq_page_chain_pagerduty",
            "incident_id",
            "round",
            "step",
            "pagerduty_service_id",
            unique=True,
            postgresql_where=text("pagerduty_service_id IS NOT NULL"),
            sqlite_where=text("pagerduty_service_id IS NOT NULL"),
        ),
        Index(
            "uq_page_added_responder",
            "incident_id",
            "user_id",
            unique=True,
            postgresql_where=text("step IS NULL"),
            sqlite_where=text("step IS NULL"),
        ),
        CheckConstraint("status IN ('pending', 'acknowledged', 'declined', 'escalated', 'cancelled')", name="status"),
        Index("ix_page_status_deadline", "status", "deadline"),
        # A reply code means one pending page of that person, across every workspace.
        Index(
            "uq_page_pending_reply_code",
            "user_id",
            "reply_code",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    # A person, or (user_id None) the PagerDuty service the step paged through.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_profile.id", ondelete="SET NULL"))
    pagerduty_service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pagerduty_service.id", ondelete="SET NULL"), default=None
    )
    step: Mapped[int | None] = mapped_column(Integer, default=None)
    round: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    deadline: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # "4" in "Reply 4A to acknowledge, 4D to decline": the smallest number free among the person's
    # pending pages in every workspace when this page was made.
    reply_code: Mapped[int | None] = mapped_column(Integer, default=None)


class IncidentResponder(UUIDAuditBase):
    __tablename__ = "incident_responder"
    __table_args__ = (
        UniqueConstraint("incident_id", "user_id", name="uq_incident_responder_user"),
        CheckConstraint("source IN ('slack', 'sms', 'voice', 'web', 'pagerduty')", name="source"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16), default="responder")
    joined_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    source: Mapped[str] = mapped_column(String(16))


class TimelineEntry(UUIDv7Base):
    """One decision, in words. Ids are time-ordered (UUID v7), so entries written in the same instant
    still read back in the order they were written."""

    __tablename__ = "timeline_entry"
    __table_args__ = (Index("ix_timeline_entry_incident_at", "incident_id", "at"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)


class DeliveryLog(UUIDBase):
    """Each outbound message and inbound webhook, with its outcome."""

    __tablename__ = "delivery_log"
    __table_args__ = (
        Index("ix_delivery_log_workspace_at", "workspace_id", "at"),
        # A retried webhook (Slack event_id, Twilio MessageSid) finds its first delivery here.
        Index("uq_delivery_log_inbound_key", "channel", "direction", "external_id", unique=True),
        # The sweeper's lookup: outbound rows left pending, retrying or sending.
        Index("ix_delivery_log_status_at", "status", "at"),
        # An alert source's last notifications (channel "alert", target the source's id).
        Index("ix_delivery_log_channel_target_at", "channel", "target", "at"),
    )

    workspace_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), default=None)
    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    direction: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, default=None)
    external_id: Mapped[str | None] = mapped_column(String(64), default=None)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"), default=None)
    page_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("page.id", ondelete="SET NULL"), default=None)
    summary: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Outbound: when the message was queued (delivery latency counts from here) and when it is (or was
    # next) due to be sent: its not-before, then each retry's time. The sweeper never moves due_at, so
    # the engine's health sees how long a due message has really waited.
    queued_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    due_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # The provider's id of what it accepted (Twilio's MessageSid) and what it later said became of it
    # (Twilio's status callback: sent, delivered, undelivered, failed).
    provider_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    provider_status: Mapped[str | None] = mapped_column(String(16), default=None)
    # A shift reminder: "<schedule id> <user id> <start ISO>", checked again just before sending (a shift
    # given away meanwhile is not reminded).
    shift_key: Mapped[str | None] = mapped_column(String(120), default=None)


class PeriodicLease(UUIDBase):
    """Which periodic job ran last and when: the row a tick must win before doing the job, so that
    with any number of web and worker processes each job runs once per interval."""

    __tablename__ = "periodic_lease"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    last_run_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))


class SwapRequest(UUIDAuditBase):
    """A member offers one of their future slots for one of someone else's.

    The slots' bounds and holders are copied here, so an accept can tell whether either slot changed
    in the meantime (then the request is void)."""

    __tablename__ = "swap_request"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'declined', 'void')", name="status"),
        Index("ix_swap_request_workspace_status", "workspace_id", "status"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"))
    target_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"))
    requester_slot_id: Mapped[uuid.UUID] = mapped_column(GUID(length=16))
    requester_schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oncall_schedule.id", ondelete="CASCADE"))
    requester_start: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    requester_end: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    target_slot_id: Mapped[uuid.UUID] = mapped_column(GUID(length=16))
    target_schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oncall_schedule.id", ondelete="CASCADE"))
    target_start: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    target_end: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Installation(UUIDBase):
    """The one row about the installation itself: its lock for the first run, and the hash of the
    one-time setup code `vigilo migrate` prints while nobody has an account."""

    __tablename__ = "installation"

    setup_code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    setup_code_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    set_up_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Invitation(UUIDAuditBase):
    """An admin asks someone (by email) to join a workspace with a role. The link's token is stored
    hashed; it is shown to the inviting admin once, is valid 7 days and can be used once."""

    __tablename__ = "invitation"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'declined', 'revoked')", name="status"),
        Index("ix_invitation_workspace_status", "workspace_id", "status"),
        Index("ix_invitation_email_status", "email", "status"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_profile.id", ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class PasswordLink(UUIDAuditBase):
    """A one-time link to set a password: an admin's reset for a member, or the first password of an
    owner `vigilo create-workspace` created. Stored hashed; using it ends the person's other sessions."""

    __tablename__ = "password_link"
    __table_args__ = (Index("ix_password_link_user", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_profile.id", ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class CalendarFeed(UUIDAuditBase):
    """A secret iCal URL: one person's shifts across the workspace (schedule_id None) or one schedule's.
    The token is stored as its SHA-256 and shown once; a revoked feed, or one whose owner is no longer
    an active member, answers 404."""

    __tablename__ = "calendar_feed"
    __table_args__ = (Index("ix_calendar_feed_workspace_user", "workspace_id", "user_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_profile.id", ondelete="CASCADE"))
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("oncall_schedule.id", ondelete="CASCADE"), default=None, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class AlertSource(UUIDAuditBase):
    """A monitoring system's webhook (Alertmanager, Grafana alerting, generic JSON) that opens, groups
    and resolves incidents on a schedule or a policy. Its URL's token is stored as its SHA-256 and shown
    once. The request count of the current one-minute window is kept here, so the limit holds across
    every web process."""

    __tablename__ = "alert_source"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="uq_alert_source_workspace_name"),
        CheckConstraint("kind IN ('alertmanager', 'grafana', 'generic')", name="kind"),
        CheckConstraint("default_severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')", name="default_severity"),
        CheckConstraint("(schedule_id IS NULL) <> (escalation_policy_id IS NULL)", name="one_target"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    # The target: a schedule (its policy, else its primary → backup) or a policy. Deleting one that a
    # source pages is refused (409 naming the source); the foreign key (NO ACTION, like a policy step's,
    # so a workspace's cascade still goes through) backs that up.
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("oncall_schedule.id"), default=None, index=True)
    escalation_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("escalation_policy.id"), default=None, index=True
    )
    severity_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    default_severity: Mapped[str] = mapped_column(String(4), default="SEV3")
    auto_resolve: Mapped[bool] = mapped_column(Boolean, default=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    maintenance_until: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # The fixed one-minute window requests are counted in, its count, and the last time one was refused.
    rate_window: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    rate_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    limited_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class AlertGroup(UUIDBase):
    """The incident one alert group (Alertmanager's groupKey, a generic dedup_key) opened, and what
    fires in it. At most one open group per (source, key): a unique index where is_open holds it,
    however many web processes take notifications at once."""

    __tablename__ = "alert_group"
    __table_args__ = (
        Index(
            "uq_alert_group_open",
            "source_id",
            "group_digest",
            unique=True,
            postgresql_where=text("is_open"),
            sqlite_where=text("is_open"),
        ),
    )

    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alert_source.id", ondelete="SET NULL"))
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), unique=True)
    group_key: Mapped[str] = mapped_column(Text)
    group_digest: Mapped[str] = mapped_column(String(64))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    # The fingerprints firing at the last notification, and the links shown on the incident page.
    firing: Mapped[list[str]] = mapped_column(JSON, default=list)
    links: Mapped[list[list[str]]] = mapped_column(JSON, default=list)


class WorkerHeartbeat(UUIDBase):
    """A process that runs the periodic tick (a `vigilo worker` process, or the web process that embeds
    the worker) says so on every tick it runs: the engine's health counts those seen lately."""

    __tablename__ = "worker_heartbeat"

    name: Mapped[str] = mapped_column(String(200), unique=True)  # host:pid
    embedded: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    seen_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)


class HeartbeatMonitor(UUIDAuditBase):
    """A job that must ping its secret URL at least every `interval_minutes`: when a ping is late, an
    incident opens on the target; the next ping resolves it. One open incident per monitor (the row's
    lock and `incident_id`). The URL's token is stored as its SHA-256 and shown once."""

    __tablename__ = "heartbeat_monitor"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="uq_heartbeat_monitor_workspace_name"),
        CheckConstraint("interval_minutes BETWEEN 1 AND 44640", name="interval_minutes"),
        CheckConstraint("(schedule_id IS NULL) <> (escalation_policy_id IS NULL)", name="one_target"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    interval_minutes: Mapped[int] = mapped_column(Integer)
    # Like an alert source's: deleting a schedule or policy a monitor pages is refused, naming it.
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("oncall_schedule.id"), default=None, index=True)
    escalation_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("escalation_policy.id"), default=None, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_ping_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # When the next ping is due at the latest (the last ping, or the creation, plus the interval).
    due_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"), default=None)
