"""A finding and its ticket are one case while it awaits review: a decision on the Review page
moves the ticket, and a decision on the ticket reviews the finding (and its sightings)."""

from __future__ import annotations

import pytest
from conftest import login, make_findings
from sqlalchemy import select

from groundstation.models import Finding, Ticket, TicketEvent
from groundstation.tickets import Actor, open_ticket

PLACE = (119.905, 32.405)


def _case(env, label: str = "illegal_construction", *, state: str = "new", sightings: int = 0):
    """A drone case as the demo files it: a pending finding (and pending sightings of it) with a
    ticket in state ``new`` (forced into ``state``). Returns (finding id, ticket id, sightings)."""
    ids = make_findings(env, [(label, 0.9, PLACE)] + [(label, 0.7, PLACE)] * sightings)
    with env.storage().session() as session:
        primary = session.get(Finding, ids[0])
        for sid in ids[1:]:
            session.get(Finding, sid).sighting_of = primary.id
        ticket = open_ticket(
            session,
            label=label,
            actor=Actor("gridpatrol-demo", "system"),
            lat=PLACE[1],
            lon=PLACE[0],
            source="drone",
            finding=primary,
        )
        session.flush()
        ticket.state = state
        session.commit()
        return ids[0], ticket.id, ids[1:]


def _review(env, finding_id: int, who: str = "supervisor", **body):
    return env.client().post(
        f"/api/v1/findings/{finding_id}/review", json=body, headers=env.headers(who)
    )


def _ticket(env, ticket_id: int) -> dict:
    return env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json


def _finding(env, finding_id: int) -> dict:
    return env.client().get(f"/api/v1/findings/{finding_id}", headers=env.headers("admin")).json


def _transition(env, ticket_id: int, who: str = "supervisor", **body):
    return env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions", json=body, headers=env.headers(who)
    )


# -- the Review page moves the ticket ------------------------------------------------------------


def test_review_confirm_files_the_cases_ticket(env) -> None:
    finding_id, ticket_id, _ = _case(env)
    reply = _review(env, finding_id, decision="confirm", note="村东新建砖房")
    assert reply.status_code == 200, reply.json
    assert reply.json["ticket_id"] == ticket_id  # the case's ticket, no second one
    ticket = _ticket(env, ticket_id)
    assert ticket["state"] == "confirmed"
    confirm = ticket["events"][-1]
    assert (confirm["action"], confirm["from"], confirm["to"]) == ("confirm", "new", "confirmed")
    assert confirm["actor"] == "supervisor" and confirm["reason"] == "村东新建砖房"
    assert confirm["data"] == {"finding_id": finding_id, "review": "confirmed", "source": "review"}
    with env.storage().session() as session:
        count = session.scalars(select(Ticket.id).where(Ticket.finding_id == finding_id)).all()
        assert count == [ticket_id]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"decision": "reject"}, ""),
        ({"decision": "reject", "note": "是晒谷的苫布"}, "是晒谷的苫布"),
        ({"decision": "reclassify", "label": "background"}, ""),
    ],
)
def test_review_reject_closes_the_false_alarms_case(env, body, reason) -> None:
    finding_id, ticket_id, _ = _case(env)
    assert _review(env, finding_id, **body).status_code == 200
    ticket = _ticket(env, ticket_id)
    assert ticket["state"] == "rejected"  # no longer an open case
    reject = ticket["events"][-1]
    assert (reject["action"], reject["from"], reject["reason"]) == ("reject", "new", reason)
    assert reject["data"] == {"finding_id": finding_id, "review": "rejected", "source": "review"}
    assert _finding(env, finding_id)["reviewed_label"] == "background"


def test_review_reject_reaches_a_filed_ticket_too(env) -> None:
    finding_id, ticket_id, _ = _case(env, state="confirmed")
    assert _review(env, finding_id, decision="reject", note="重复").status_code == 200
    assert _ticket(env, ticket_id)["state"] == "rejected"


def test_reclassify_gives_the_ticket_the_new_class_and_files_it(env) -> None:
    finding_id, ticket_id, _ = _case(env)
    reply = _review(env, finding_id, decision="reclassify", label="straw_burning", note="是烟")
    assert reply.status_code == 200, reply.json
    ticket = _ticket(env, ticket_id)
    assert (ticket["label"], ticket["state"]) == ("straw_burning", "confirmed")
    relabel, confirm = ticket["events"][-2:]
    assert relabel["action"] == "relabel" and relabel["to"] == "new"
    assert relabel["data"] == {
        "finding_id": finding_id,
        "from_label": "illegal_construction",
        "to_label": "straw_burning",
    }
    assert confirm["action"] == "confirm" and confirm["reason"] == "是烟"
    # dispatch now follows the new class: straw burning goes to ecology and environment
    dispatched = _transition(env, ticket_id, action="dispatch").json
    assert dispatched["department"]["code"] == "ecology_environment"


def test_reclassify_reaches_a_filed_ticket(env) -> None:
    finding_id, ticket_id, _ = _case(env, state="confirmed")
    assert (
        _review(env, finding_id, decision="reclassify", label="illegal_fishing").status_code == 200
    )
    ticket = _ticket(env, ticket_id)
    assert (ticket["label"], ticket["state"]) == ("illegal_fishing", "confirmed")
    assert ticket["events"][-1]["action"] == "relabel"


def test_review_confirm_leaves_a_dispatched_case_as_it_is(env) -> None:
    finding_id, ticket_id, _ = _case(env, state="dispatched")
    assert _review(env, finding_id, decision="confirm").status_code == 200
    ticket = _ticket(env, ticket_id)
    assert ticket["state"] == "dispatched" and len(ticket["events"]) == 1
    assert _finding(env, finding_id)["review_status"] == "confirmed"


@pytest.mark.parametrize(
    "body",
    [{"decision": "reject"}, {"decision": "reclassify", "label": "straw_burning"}],
)
@pytest.mark.parametrize("state", ["dispatched", "resolved", "closed"])
def test_review_cannot_undo_a_dispatched_case_and_changes_nothing(env, state, body) -> None:
    finding_id, ticket_id, sightings = _case(env, state=state, sightings=1)
    other_id, other_ticket, _ = _case(env)  # reviewed in the same bulk request
    reply = env.client().post(
        "/api/v1/findings/review",
        json={"ids": [other_id, sightings[0]], **body},
        headers=env.headers("supervisor"),
    )
    assert reply.status_code == 409
    error = reply.json["error"]
    assert f"ticket {ticket_id} is already {state}" in error and str(finding_id) in error
    # all or none: neither finding nor either ticket changed
    for fid in (finding_id, sightings[0], other_id):
        assert _finding(env, fid)["review_status"] == "pending"
    for tid, before in ((ticket_id, state), (other_ticket, "new")):
        ticket = _ticket(env, tid)
        assert ticket["state"] == before and len(ticket["events"]) == 1
        assert ticket["label"] == "illegal_construction"


def test_refusal_is_in_the_supervisors_language(env) -> None:
    finding_id, ticket_id, _ = _case(env, state="dispatched")
    reply = env.client().post(
        f"/api/v1/findings/{finding_id}/review",
        json={"decision": "reject"},
        headers={**env.headers("supervisor"), "Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert reply.status_code == 409
    assert str(ticket_id) in reply.json["error"] and "已派遣" in reply.json["error"]


# -- the ticket reviews the finding --------------------------------------------------------------


def test_ticket_confirm_reviews_the_pending_finding_and_its_sightings(env) -> None:
    finding_id, ticket_id, sightings = _case(env, label="straw_burning", sightings=2)
    reply = _transition(env, ticket_id, action="confirm", reason="现场核实")
    assert reply.status_code == 200, reply.json
    assert reply.json["events"][-1]["data"] == {"finding_id": finding_id, "review": "confirmed"}
    for fid in (finding_id, *sightings):
        finding = _finding(env, fid)
        assert (finding["review_status"], finding["reviewed_label"]) == (
            "confirmed",
            "straw_burning",
        )
        assert finding["reviewed_by"] == "supervisor"
    # it has left the review queue: reviewing it now says it was already reviewed
    assert _review(env, finding_id, decision="reject").status_code == 409
    flight = _finding(env, finding_id)["flight_id"]
    queue = (
        env.client()
        .get(f"/api/v1/findings?flight={flight}&primary=1", headers=env.headers("supervisor"))
        .json
    )
    assert queue["items"] == []


def test_ticket_reject_reviews_the_finding_as_a_false_alarm(env) -> None:
    finding_id, ticket_id, sightings = _case(env, sightings=1)
    assert _transition(env, ticket_id, action="reject", reason="树影").status_code == 200
    with env.storage().session() as session:
        for fid in (finding_id, *sightings):
            finding = session.get(Finding, fid)
            assert (finding.review_status, finding.reviewed_label) == ("rejected", "background")
        assert session.get(Finding, finding_id).review_note == "树影"


def test_a_refused_ticket_decision_leaves_the_finding_pending(env) -> None:
    finding_id, ticket_id, _ = _case(env)
    reply = _transition(env, ticket_id, action="reject")  # no reason
    assert reply.status_code == 400
    assert _finding(env, finding_id)["review_status"] == "pending"
    assert _ticket(env, ticket_id)["state"] == "new"


def test_ticket_decisions_leave_a_reviewed_finding_alone(env) -> None:
    finding_id, ticket_id, _ = _case(env)
    assert _review(env, finding_id, decision="confirm").status_code == 200
    assert _transition(env, ticket_id, action="reject", reason="重复立案").status_code == 200
    finding = _finding(env, finding_id)
    assert finding["review_status"] == "confirmed"  # the review stands; the case is rejected
    with env.storage().session() as session:
        last = session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(TicketEvent.id.desc())
        ).first()
        assert last.action == "reject" and last.data == {}


def test_drone_cases_store_no_machine_written_text(env) -> None:
    """The ticket page describes a drone case from its finding in the reader's language: the
    stored description and the archive's reasons hold only what people wrote."""
    (finding_id,) = make_findings(env, [("illegal_fishing", 0.8, PLACE)])
    ticket_id = _review(env, finding_id, decision="confirm").json["ticket_id"]
    ticket = _ticket(env, ticket_id)
    assert ticket["description"] == ""
    assert [(e["action"], e["reason"]) for e in ticket["events"]] == [("open", ""), ("confirm", "")]


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        (
            "en",
            ("Reclassified in review: Illegal construction → Straw burning", "Confirmed in review"),
        ),
        ("zh", ("审核改判：违法建设 → 秸秆焚烧", "审核确认")),
    ],
)
def test_the_case_archive_tells_review_decisions_in_the_readers_language(env, lang, texts) -> None:
    finding_id, ticket_id, _ = _case(env)
    assert _review(env, finding_id, decision="reclassify", label="straw_burning").status_code == 200
    rejected_id, rejected_ticket, _ = _case(env)
    assert _review(env, rejected_id, decision="reject").status_code == 200
    client = env.client()
    login(client, "supervisor")
    client.get(f"/lang/{lang}")
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    for text in texts:
        assert text in page
    page = client.get(f"/tickets/{rejected_ticket}").get_data(as_text=True)
    assert ("False alarm (rejected in review)" if lang == "en" else "误报（审核驳回）") in page
    assert "false alarm in review" not in page  # rendered from the entry's data, not stored text


def test_reopening_a_false_alarm_confirms_its_finding_and_sightings(env) -> None:
    """A case rejected in review and reopened is real after all: its finding and sightings count
    as confirmed, so the next flight's views of it are 'still seen', not a repeated false alarm."""
    finding_id, ticket_id, sightings = _case(env, sightings=2)
    assert _review(env, finding_id, decision="reject").status_code == 200
    assert _finding(env, sightings[0])["review_status"] == "rejected"
    reopened = _transition(env, ticket_id, action="reopen", reason="复核：确有焚烧")
    assert reopened.status_code == 200, reopened.json
    for fid in (finding_id, *sightings):
        finding = _finding(env, fid)
        assert (finding["review_status"], finding["reviewed_label"]) == (
            "confirmed",
            "illegal_construction",
        )
    assert reopened.json["events"][-1]["data"] == {"finding_id": finding_id, "review": "confirmed"}
