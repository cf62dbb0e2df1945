"""Property-based run of every operation in the OpenAPI schema against a live uvicorn server: no input,
however odd, may produce a server error. Bounded: MAX_EXAMPLES generated requests per operation
(plus the schema's own examples), once with valid inputs and once with schema-violating ones."""

from __future__ import annotations

import pytest
import schemathesis
from api_testkit import LiveServer, make_corpus
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.main import create_app
from core.brands import Brand, BrandRepo
from core.settings import Settings

MAX_EXAMPLES = 20
ADMIN = "schemathesis-admin-key-000000"

# The schema is static (it does not depend on data), so operations are known at collection time.
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(nlp_enabled=False)).openapi())
OPERATIONS = {r.ok().label: r.ok() for r in SCHEMA.get_all_operations()}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    s = Settings(data_dir=tmp / "data", nlp_enabled=False, rate_limit_per_minute=1_000_000,
                 brands_file=tmp / "none.yaml", admin_key=ADMIN)
    app = create_app(s, webhook_worker=False)
    server = LiveServer(app)
    app.state.store.upsert(make_corpus(120))
    BrandRepo(app.state.state_db).upsert(Brand(name="小米"))
    yield server
    server.stop()


def test_every_route_is_covered():
    assert len(OPERATIONS) >= 20
    assert "GET /v1/trends" in OPERATIONS and "POST /v1/mentions:batch" in OPERATIONS


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_errors(label, mode, live):
    op = OPERATIONS[label]
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    if mode == "negative" and not _has_inputs(op):
        pytest.skip("no parameters or body: nothing to make invalid")

    @given(case=op.as_strategy(generation_mode=generation))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(base_url=live.url, headers={"X-API-Key": ADMIN}, checks=[not_a_server_error],
                               timeout=30)

    run()


def _has_inputs(op) -> bool:
    return bool(list(op.iter_parameters())) or bool(op.body)
