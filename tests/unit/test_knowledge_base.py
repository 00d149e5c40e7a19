"""The knowledge base through the web app: a file imported whole or refused with its line
numbers (CSV in UTF-8 or GB18030, JSON), every change in the audit log, the desk's search
(valid entries only, of a matter if asked, the question's words marked) and who may do
what."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from core.paths import Paths
from core.secrets import Secrets
from core.site import Site
from tests.unit import web_app

paths, client = web_app.paths, web_app.client  # the web app on an installation per test

HEADER = "编号,标题,内容,事项,部门,关键词,有效期起,有效期止\n"
GOOD = (
    HEADER
    + "KB-1,增值税专用发票如何开具,在电子税务局申请开具增值税专用发票。,101,tax,专票,,\n"
    + "KB-2,社会保险登记,新设企业三十日内办理社会保险登记。,,social,社保,2020-01-01,\n"
    + "KB-3,旧的发票规定,已废止的发票规定。,101,tax,,2019-01-01,2020-12-31\n"
)


def tokens(paths: Paths, site: Site) -> dict[str, dict[str, str]]:
    secrets = Secrets.load_or_create(paths.secrets_file)
    return {
        name: {"Authorization": f"Bearer {token}"}
        for name, token in (
            ("admin", secrets.admin_token),
            ("supervisor", secrets.supervisor_token()),
            ("seat", secrets.console_token(site.seats[0].id)),
        )
    }


def test_a_bad_file_is_refused_with_every_line_and_nothing_is_imported(
    client: TestClient, paths: Paths, site: Site
) -> None:
    admin = tokens(paths, site)["admin"]
    bad = (
        HEADER
        + "KB-1,增值税专用发票如何开具,在电子税务局申请。,101,tax,,,\n"
        + "KB-2,没有这个事项,内容。,999,,,,\n"
        + "KB-3,,没有标题。,,,,,\n"
        + "KB-1,重复编号,内容。,,,,,\n"
        + "KB-4,日期不对,内容。,,,,2026-13-01,\n"
        + "KB-5,期限倒了,内容。,,,,2026-02-01,2026-01-01\n"
        + "KB-6,少一列,内容\n"
    )
    refused = client.post("/api/knowledge/import", content=bad.encode(), headers=admin)
    assert refused.status_code == 422
    assert [(p["line"], p["problem"]) for p in refused.json()["detail"]] == [
        (3, "no matter '999' in the transfer plan"),
        (4, "title is empty"),
        (5, "code KB-1 already appears on line 2"),
        (6, "valid_from '2026-13-01' is not YYYY-MM-DD"),
        (7, "valid_to is before valid_from"),
        (8, "has 3 fields, the header has 8"),
    ]
    assert client.get("/api/knowledge/KB-1", headers=admin).status_code == 404


def test_json_problems_are_told_by_the_line_their_object_starts_on(
    client: TestClient, paths: Paths, site: Site
) -> None:
    admin = tokens(paths, site)["admin"]
    entries = [
        {"code": "J-1", "title": "发票", "text": "开具发票。"},
        {"code": "J-2", "title": "社保", "text": "办理社保。", "colour": "red"},
        "not an entry",
    ]
    text = "[\n" + ",\n".join(json.dumps(e, ensure_ascii=False) for e in entries) + "\n]"
    refused = client.post("/api/knowledge/import", content=text.encode(), headers=admin)
    assert refused.status_code == 422
    assert [(p["line"], p["problem"]) for p in refused.json()["detail"]] == [
        (3, "unknown field(s): colour"),
        (4, "is not an object"),
    ]
    good = "[\n" + json.dumps(entries[0], ensure_ascii=False) + "\n]"
    done = client.post("/api/knowledge/import", content=good.encode(), headers=admin)
    assert done.json() == {"added": 1, "changed": 0, "unchanged": 0}


def test_a_gb18030_file_imports_and_importing_it_again_changes_nothing(
    client: TestClient, paths: Paths, site: Site
) -> None:
    admin = tokens(paths, site)["admin"]
    first = client.post("/api/knowledge/import", content=GOOD.encode("gb18030"), headers=admin)
    assert first.json() == {"added": 3, "changed": 0, "unchanged": 0}, first.text
    again = client.post("/api/knowledge/import", content=GOOD.encode("gb18030"), headers=admin)
    assert again.json() == {"added": 0, "changed": 0, "unchanged": 3}
    entry = client.get("/api/knowledge/KB-1", headers=admin).json()
    assert (entry["title"], entry["matter_code"], entry["keywords"]) == (
        "增值税专用发票如何开具", "101", "专票",
    )  # fmt: skip
    assert [c["action"] for c in entry["changes"]] == ["added"]


def test_every_change_is_in_the_audit_log_and_the_search_follows_it(
    client: TestClient, paths: Paths, site: Site
) -> None:
    who = tokens(paths, site)
    admin = {**who["admin"], "X-Actor": "alice"}
    client.post("/api/knowledge/import", content=GOOD.encode(), headers=admin)
    assert client.get("/api/knowledge", params={"q": "发票"}, headers=who["seat"]).json()
    changed = client.put("/api/knowledge/KB-1", headers=admin, json={
        "title": "住房公积金缴存", "text": "按月缴存住房公积金。", "keywords": "公积金",
    })  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert [c["action"] for c in changed.json()["changes"]] == ["added", "changed"]
    assert changed.json()["changes"][1]["who"] == "admin:alice"
    found = client.get("/api/knowledge", params={"q": "公积金"}, headers=who["seat"]).json()
    assert [f["code"] for f in found] == ["KB-1"]
    old = client.get("/api/knowledge", params={"q": "增值税专用发票"}, headers=who["seat"])
    assert [f["code"] for f in old.json()] == []
    assert client.delete("/api/knowledge/KB-1", headers=admin).status_code == 204
    assert client.get("/api/knowledge", params={"q": "公积金"}, headers=who["seat"]).json() == []
    assert client.delete("/api/knowledge/KB-1", headers=admin).status_code == 404
    bad = client.put("/api/knowledge/KB-9", headers=admin, json={"title": "", "text": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["problem"] == "title is empty"


def test_the_desk_finds_valid_entries_with_the_question_s_words_marked(
    client: TestClient, paths: Paths, site: Site
) -> None:
    who = tokens(paths, site)
    client.post("/api/knowledge/import", content=GOOD.encode(), headers=who["admin"])
    found = client.get("/api/knowledge", params={"q": "专用发票怎么开"}, headers=who["seat"])
    assert found.status_code == 200
    (first, *rest) = found.json()
    assert first["code"] == "KB-1" and "KB-3" not in [r["code"] for r in rest]  # expired
    assert first["title"] == "增值税<mark>专用发票</mark>如何开具"
    assert "<mark>专用发票</mark>" in first["snippet"]
    of_matter = client.get("/api/knowledge", params={"q": "登记", "matter": "101"},
                           headers=who["supervisor"])  # fmt: skip
    assert of_matter.json() == []
    # the matter known and no question yet: its entries still valid
    offered = client.get("/api/knowledge", params={"matter": "101"}, headers=who["seat"])
    assert [entry["code"] for entry in offered.json()] == ["KB-1"]
    assert client.get("/api/knowledge", headers=who["seat"]).status_code == 422
    # found by its keyword; markup in a question is never sent back
    (social,) = client.get(
        "/api/knowledge", params={"q": "<b>社保</b>"}, headers=who["seat"]
    ).json()
    assert (social["code"], social["title"]) == ("KB-2", "社会保险登记")


def test_only_the_admin_changes_entries_and_only_known_tokens_search(
    client: TestClient, paths: Paths, site: Site
) -> None:
    who = tokens(paths, site)
    entry = {"title": "发票", "text": "开具发票。"}
    assert client.put("/api/knowledge/KB-1", json=entry, headers=who["seat"]).status_code == 401
    supervisor = client.put("/api/knowledge/KB-1", json=entry, headers=who["supervisor"])
    assert supervisor.status_code == 401
    assert client.get("/api/knowledge", params={"q": "发票"}).status_code == 401
    upload = client.post("/api/knowledge/import", content=GOOD.encode(), headers=who["seat"])
    assert upload.status_code == 401
