from tests.conftest import ApiClient, TenantFixture


def test_first_message_example_answers_201(api: ApiClient, tenant_a: TenantFixture) -> None:
    response = api.send(tenant_a)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("sess_")
    assert body["status"] == "active"
    assert body["channel"] == "whatsapp"
    assert body["message"]["status"] == "queued"
