"""Log lines keep their cause (tracebacks, stacks) while secrets are redacted everywhere in them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bot.observability import configure_logging
from tests.support.logs import capture_root_handler, restored_logging

SECRET = "xoxb-live-secret-4242"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    with restored_logging():
        yield


def _fail_with_the_secret() -> None:
    raise ValueError(f"the server refused token {SECRET}")


def _log_an_error_and_a_stack() -> None:
    log = logging.getLogger("bot.tests.privacy")
    try:
        try:
            _fail_with_the_secret()
        except ValueError as cause:
            raise RuntimeError("could not post the answer") from cause
    except RuntimeError:
        log.exception("posting failed for %s", SECRET, extra={"url": f"https://slack.example/?token={SECRET}"})
    # A stack shows each frame's source line, so this one carries the secret into `stack_info`.
    log.warning("where this came from", stack_info=True, extra={"token": SECRET})  # xoxb-live-secret-4242


def test_json_error_lines_carry_the_traceback_with_secrets_redacted() -> None:
    configure_logging(level="INFO", json_format=True, secrets=[SECRET])
    buffer = capture_root_handler()
    _log_an_error_and_a_stack()

    output = buffer.getvalue()
    error, warning = (json.loads(line) for line in output.splitlines())
    traceback = error.get("exception", "")
    assert traceback.startswith("Traceback (most recent call last):")
    assert "in _fail_with_the_secret" in traceback, "the frames of the cause are kept"
    assert "ValueError: the server refused token ***" in traceback, "the exception message is redacted"
    assert traceback.rstrip().endswith("RuntimeError: could not post the answer")
    assert SECRET not in output
    assert error["message"] == "posting failed for ***"
    assert error["url"] == "https://slack.example/?token=***"
    assert "in _log_an_error_and_a_stack" in warning["stack"] and "# ***" in warning["stack"]
    assert warning["token"] == "***"


def test_text_error_lines_carry_the_traceback_with_secrets_redacted() -> None:
    configure_logging(level="INFO", json_format=False, secrets=[SECRET])
    buffer = capture_root_handler()
    _log_an_error_and_a_stack()

    output = buffer.getvalue()
    assert SECRET not in output
    assert "posting failed for ***" in output
    assert "Traceback (most recent call last):" in output and "ValueError: the server refused token ***" in output
    assert "Stack (most recent call last):" in output and "in _log_an_error_and_a_stack" in output


def test_the_record_keeps_its_exception_for_other_handlers() -> None:
    configure_logging(level="INFO", json_format=True, secrets=[SECRET])
    capture_root_handler()
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logging.getLogger().addHandler(Keep())
    _log_an_error_and_a_stack()
    assert seen[0].exc_info is not None and isinstance(seen[0].exc_info[1], RuntimeError)


def test_a_log_call_with_bad_arguments_does_not_raise_into_the_caller() -> None:
    configure_logging(level="INFO", json_format=True, secrets=[SECRET])
    buffer = capture_root_handler()
    log = logging.getLogger("bot.tests.privacy")
    log.warning("two values %s %s", "one")  # noqa: PLE1206 - the bad call is the point
    log.warning("still logging")
    assert [json.loads(line)["message"] for line in buffer.getvalue().splitlines()] == ["still logging"]
