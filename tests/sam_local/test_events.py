"""`sam local invoke` of every event in events/, each answer checked against events/README.md.

One test per event file, named after it; an event without an expectation (or an expectation
without its file) fails. Needs Docker: `make sam-local` runs these (`-m sam_local`), `make test`
deselects them.
"""

from __future__ import annotations

import pytest

from tests.sam_local.expectations import EXPECTATIONS, event_names, missing_expectation

pytestmark = pytest.mark.sam_local


@pytest.mark.parametrize("event", sorted(set(event_names()) | set(EXPECTATIONS)))
def test_the_event_gets_its_documented_answer(event: str, request: pytest.FixtureRequest) -> None:
    # Fixtures are asked for only once the event is known, so an unknown one fails at once,
    # before the stack and Docker are even needed.
    if (why := missing_expectation(event)) is not None:
        pytest.fail(why)
    expectation = EXPECTATIONS[event]
    if expectation.needs_job:
        request.getfixturevalue("sam_local_job")
    answer = request.getfixturevalue("invoke_event")(expectation.function, event)
    expectation.check(answer, request.getfixturevalue("sam_local"))
