"""The admin API: authenticated, and the red list through it behaves like the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from core.keys import SEATS_BUSY
from core.paths import Paths
from core.secrets import Secrets
from core.site import Site
from hotline.web import create_app
from redlist.directory import CALLERS
from redlist.synthetic import credit_code, csv_bytes, landline, rows


@pytest.fixture
def client(
    site: Site, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    Redis.from_url(redis_url).delete(CALLERS)
    paths = Paths(state=tmp_path / "state", cache=tmp_path / "cache")
    paths.ensure()
    with TestClient(create_app(site, paths)) as test_client:
        token = Secrets.load_or_create(paths.secrets_file).admin_token
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client
    Redis.from_url(redis_url).delete(CALLERS)
    assert os.environ["REDIS_URL"] == redis_url


def test_requests_without_the_token_are_refused(client: TestClient) -> None:
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic abc"},
    ):
        response = client.get("/api/enterprises", headers=headers)
        assert response.status_code == 401
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200


def test_the_api_schema_is_for_the_admin_and_there_is_no_open_docs_page(
    client: TestClient,
) -> None:
    for open_page in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(open_page, headers={"Authorization": ""}).status_code == 404
    assert client.get("/api/openapi.json", headers={"Authorization": ""}).status_code == 401
    schema = client.get("/api/openapi.json").json()
    assert "/api/enterprises" in schema["paths"]


def test_import_search_red_list_and_audit_through_the_api(client: TestClient) -> None:
    imported = client.post(
        "/api/redlist/import", content=csv_bytes(list(rows(4)), encoding="gb18030")
    )
    assert imported.status_code == 200 and imported.json()["created"] == 4
    found = client.get("/api/enterprises", params={"q": landline(2)}).json()
    assert found["total"] == 1 and found["items"][0]["uscc"] == credit_code(2)

    added = client.put(
        f"/api/redlist/{credit_code(2)}",
        json={"reason": "headquarters"},
        headers={"X-Actor": "alice"},
    )
    assert added.status_code == 200 and added.json()["red_list"]["tier"] == "key-firm"
    caller = client.get(f"/api/callers/+86 21 {landline(2)[3:]}").json()
    assert (caller["kind"], caller["tier"], caller["queue_prio"]) == ("enterprise", "key-firm", 10)

    assert client.delete(f"/api/redlist/{credit_code(2)}").status_code == 204
    audit = client.get("/api/redlist/audit", params={"uscc": credit_code(2)}).json()
    assert [(entry["action"], entry["actor"]) for entry in audit] == [
        ("redlist.remove", "admin"),
        ("redlist.add", "admin:alice"),
    ]


def test_a_bad_file_is_refused_with_its_lines(client: TestClient) -> None:
    body = list(rows(3))
    body[0][0] = "bad"
    body[2][2] = "no phone"
    refused = client.post("/api/redlist/import", content=csv_bytes(body))
    assert refused.status_code == 422
    assert [item["line"] for item in refused.json()["detail"]] == [2, 4]
    assert client.get("/api/enterprises").json()["total"] == 0


def test_a_file_uploaded_as_a_form_imports_like_a_raw_body(client: TestClient) -> None:
    """What ``curl -F file=@firms.csv`` sends: a multipart form with the file in it."""
    upload = {"file": ("firms.csv", csv_bytes(list(rows(3))), "text/csv")}
    imported = client.post("/api/redlist/import", files=upload)
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 3
    again = client.post("/api/redlist/import", content=csv_bytes(list(rows(3))))
    assert again.json()["unchanged"] == 3
    two = {"a": ("a.csv", b"x", "text/csv"), "b": ("b.csv", b"y", "text/csv")}
    assert client.post("/api/redlist/import", files=two).status_code == 400


def test_an_oversized_upload_is_refused_with_413_and_a_field_too_long_with_its_line(
    client: TestClient,
) -> None:
    huge = b"x" * (30 * 1024 * 1024)
    refused = client.post("/api/redlist/import", content=huge)
    assert refused.status_code == 413
    assert "hotline redlist import FILE" in refused.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(30):
            yield b"x" * (1024 * 1024)

    assert client.post("/api/redlist/import", content=chunks()).status_code == 413
    body = list(rows(2))
    body[1][1] = "企" * 200_000
    long = client.post("/api/redlist/import", content=csv_bytes(body))
    assert long.status_code == 422
    assert long.json()["detail"][0]["line"] == 3
    assert client.get("/api/enterprises").json()["total"] == 0


def test_enterprises_are_added_changed_and_exported(client: TestClient) -> None:
    code = credit_code(7)
    bad = client.put(f"/api/enterprises/{code}", json={"name": "X", "phones": ["not a phone"]})
    assert bad.status_code == 422
    assert (
        client.put(
            f"/api/enterprises/{code}", json={"name": "示例", "phones": ["021-5000 0007"]}
        ).status_code
        == 200
    )
    assert client.get(f"/api/enterprises/{code}").json()["phones"] == [landline(7)]
    exported = client.get("/api/redlist/export", params={"red_only": False})
    assert exported.status_code == 200 and code in exported.text
    assert client.delete(f"/api/enterprises/{code}").status_code == 204
    assert client.get(f"/api/enterprises/{code}").status_code == 404


def test_seats_are_paused_resumed_logged_out_and_in(client: TestClient, redis_url: str) -> None:
    Redis.from_url(redis_url).delete(
        "hotline:seats:paused", "hotline:seats:busy", "hotline:seats:resting"
    )
    assert client.post("/api/seats/1001/pause", json={"reason": "lunch"}).json() == {
        "state": "paused",
        "reason": "lunch",
    }
    assert client.post("/api/seats/1002/logout").json() == {
        "state": "paused",
        "reason": "logged-out",
    }
    listed = {seat["id"]: seat for seat in client.get("/api/seats").json()}
    assert listed["1001"]["state"] == "paused" and listed["1003"]["state"] == "available"
    assert client.post("/api/seats/1001/resume").json() == {"state": "available"}
    assert client.post("/api/seats/1002/login").json() == {"state": "available"}
    assert client.post("/api/seats/9999/pause", json={"reason": "x"}).status_code == 404
    assert (
        client.post("/api/seats/1001/pause", json={}, headers={"Authorization": ""}).status_code
        == 401
    )


def test_the_transfer_plan_and_work_orders_through_the_api(client: TestClient) -> None:
    assert client.get("/api/matters", headers={"Authorization": ""}).status_code == 401
    found = client.get("/api/matters", params={"search": "VAT"}).json()
    assert [m["code"] for m in found] == ["101"] and found[0]["department"] == "tax"
    refused = client.put("/api/matters/990", json={"name": "x", "department": "nowhere"})
    assert refused.status_code == 422 and "unknown department" in refused.json()["detail"]
    department = {"name": "Customs", "numbers": ["02161009001"], "periods": ["09:00-17:00"]}
    assert client.put("/api/departments/customs", json=department).status_code == 200
    bad_hours = {**department, "periods": ["17:00-09:00"]}
    assert client.put("/api/departments/customs", json=bad_hours).status_code == 422
    matter = {"name": "Import declarations", "department": "customs"}
    assert client.put("/api/matters/990", json=matter).json()["department_name"] == "Customs"
    in_use = client.delete("/api/departments/customs")
    assert in_use.status_code == 409 and "still has matters" in in_use.json()["detail"]

    made = client.post("/api/orders", json={"department": "customs", "level": "3-days"})
    assert made.status_code == 201
    number = made.json()["number"]
    assert client.post(f"/api/orders/{number}/close").status_code == 409
    reply = {"reply_to_company": "called back", "report_to_hotline": "done"}
    assert client.post(f"/api/orders/{number}/reply", json=reply).json()["state"] == "replied"
    assert client.post(f"/api/orders/{number}/close").json()["state"] == "closed"
    assert client.get("/api/orders", params={"state": "closed"}).json()[0]["number"] == number
    assert client.get("/api/orders/WO-none").status_code == 404


def test_a_transfer_asked_for_with_no_app_running_says_what_to_do(
    client: TestClient, redis_url: str
) -> None:
    unknown = client.post("/api/calls/1234.5/transfer", json={"matter": "101"})
    assert unknown.status_code == 404 and "no call 1234.5" in unknown.json()["detail"]
    Redis.from_url(redis_url).hset(SEATS_BUSY, "1001", "1234.5")
    answer = client.post("/api/calls/1234.5/transfer", json={"matter": "101"})
    assert answer.status_code == 503 and "hotline app" in answer.json()["detail"]
    assert client.post("/api/calls/1234.5/transfer", json={"matter": "999"}).status_code == 404
    assert client.get("/api/calls/1234.5/transfer").status_code == 404
    Redis.from_url(redis_url).hdel(SEATS_BUSY, "1001")
