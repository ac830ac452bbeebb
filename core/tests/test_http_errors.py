"""The one HTTP status → provider error mapping every provider uses (distil.http_error)."""

from __future__ import annotations

import pytest

import distil
from distil.teach.http_errors import retry_after, server_message

NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
WHERE = "acme.chat (gpt-🦜-mini)"


def test_retry_after_in_seconds_and_fractions() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"retry-after": "0.25"}) == 0.25
    assert retry_after({"retry-after": "-3"}) == 0.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0


def test_retry_after_as_an_http_date() -> None:
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=NOW) == 30.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:30:00 -0000"}, now=NOW) == 120.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:00:00 GMT"}, now=NOW) == 0.0


@pytest.mark.parametrize(
    "headers", [None, {}, {"retry-after": ""}, {"retry-after": "soon-ish"}, {"retry-after": "nan"}]
)
def test_a_missing_or_garbage_retry_after_is_none(headers: dict[str, str] | None) -> None:
    assert retry_after(headers) is None


def test_429_is_a_rate_limit_error_with_its_wait_from_an_http_date() -> None:
    error = distil.http_error(
        429,
        {"Retry-After": "Thu, 01 Jan 2099 00:00:00 GMT"},
        {"error": {"message": "slow down ⏳"}},
        where=WHERE,
    )
    assert type(error) is distil.RateLimitError
    assert error.status == 429 and error.retry_after is not None and error.retry_after > 1e9
    assert "acme.chat (gpt-🦜-mini): HTTP 429: slow down ⏳" in str(error)


def test_429_with_garbage_retry_after_is_still_a_rate_limit_error() -> None:
    error = distil.http_error(429, {"retry-after": "later"}, None, where=WHERE)
    assert type(error) is distil.RateLimitError and error.retry_after is None
    assert "no error message" in str(error)


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 529])
def test_408_409_and_5xx_are_transient(status: int) -> None:
    error = distil.http_error(status, {}, b"<html>Bad gateway</html>", where=WHERE)
    assert type(error) is distil.TransientProviderError
    assert error.status == status and error.retry_after is None
    assert f"HTTP {status}: <html>Bad gateway</html>" in str(error)


def test_503_keeps_its_retry_after() -> None:
    error = distil.http_error(503, {"Retry-After": "120"}, "", where=WHERE)
    assert type(error) is distil.TransientProviderError and error.retry_after == 120.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_other_4xx_are_permanent_and_carry_their_hint(status: int) -> None:
    hints = {401: "check the key in $ACME_API_KEY", 404: "check the model name"}
    body = '{"error": {"message": "nope", "type": "invalid_request_error"}}'
    error = distil.http_error(status, {"retry-after": "5"}, body, where=WHERE, hints=hints)
    assert isinstance(error, distil.ProviderError)
    assert not isinstance(error, distil.TransientProviderError)
    assert error.status == status  # type: ignore[attr-defined]
    expected = f"{WHERE}: HTTP {status}: nope" + (f" ({hints[status]})" if status in hints else "")
    assert str(error).endswith(expected)


def test_redact_cleans_the_message_the_server_echoed() -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-SECRET-123"}}
    error = distil.http_error(
        401, {}, body, where=WHERE, redact=lambda s: s.replace("sk-SECRET-123", "sk-***")
    )
    assert "sk-SECRET-123" not in str(error) and "sk-***" in str(error)


def test_a_timeout_is_transient_and_says_how_long() -> None:
    error = distil.timeout_error(WHERE, 2.5)
    assert type(error) is distil.TransientProviderError
    assert "no answer within 2.5 s" in str(error)


def test_server_message_reads_common_bodies() -> None:
    assert server_message({"message": "flat"}) == "flat"
    assert server_message({"error": "as a string"}) == "as a string"
    assert server_message(b'{"error": {"message": "bytes \xf0\x9f\x99\x82"}}') == "bytes 🙂"
    assert server_message("x" * 1000) == "x" * 300
    assert server_message(None) == ""


def test_rate_limit_state_reads_names_in_any_case_and_prefers_the_exact_one() -> None:
    """One pass over the headers finds what a look-up per name found: any case, the exact
    lower-case name first, else the first name that differs only in case; blanks are unset."""
    import httpx

    mixed = {"X-RateLimit-Remaining-Requests": " 7 ", "X-RATELIMIT-REMAINING-REQUESTS": "8"}
    assert distil.rate_limit_state(mixed, now=NOW) == {"remaining_requests": 7.0}
    exact_last = {**mixed, "x-ratelimit-remaining-requests": "9"}
    assert distil.rate_limit_state(exact_last, now=NOW) == {"remaining_requests": 9.0}
    blank = {"x-ratelimit-remaining-requests": " ", "x-ratelimit-remaining-tokens": "5"}
    assert distil.rate_limit_state(blank, now=NOW) == {"remaining_tokens": 5.0}
    assert distil.rate_limit_state({}, now=NOW) == {} == distil.rate_limit_state(None, now=NOW)
    sdk = httpx.Headers([("X-RateLimit-Reset-Tokens", "1s"), ("x-ratelimit-remaining-tokens", "3")])
    assert distil.rate_limit_state(sdk, now=NOW) == {"remaining_tokens": 3.0, "reset_tokens_s": 1.0}
