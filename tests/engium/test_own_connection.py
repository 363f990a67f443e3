"""`engium.cache.OwnConnection`: the hot path's Redis connection, whose replies it parses itself."""

from __future__ import annotations

import time

import pytest
from redis.exceptions import InvalidResponse, NoScriptError, ResponseError

from engium.cache import OwnConnection, _Incomplete, bulk, parse_reply


def command(*parts: str) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(bulk(part) for part in parts)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b":42\r\n", 42),
        (b":-7\r\n", -7),
        (b"+OK\r\n", b"OK"),
        (b"$5\r\nhello\r\n", b"hello"),
        (b"$0\r\n\r\n", b""),
        (b"$-1\r\n", None),
        (b"_\r\n", None),
        (b"*-1\r\n", None),
        (b"#t\r\n", True),
        (b"*3\r\n:1\r\n:99\r\n:60000\r\n", [1, 99, 60000]),
        (b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", [b"a", [1]]),
        (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # a bulk string is read by its length
    ],
)
def test_replies_parse_as_redis_py_gives_them_undecoded(data: bytes, expected: object) -> None:
    assert parse_reply(data, 0) == (expected, len(data))


@pytest.mark.parametrize(
    "data", [b"", b":4", b"*3\r\n:1\r\n:2\r\n", b"$5\r\nhel", b"$5\r\nhello", b"*1\r\n"]
)
def test_a_reply_cut_short_is_incomplete(data: bytes) -> None:
    with pytest.raises(_Incomplete):
        parse_reply(data, 0)


def test_error_replies_are_redis_py_s_exceptions() -> None:
    noscript, _ = parse_reply(b"-NOSCRIPT No matching script.\r\n", 0)
    assert isinstance(noscript, NoScriptError)
    other, _ = parse_reply(b"-ERR wrong number of arguments\r\n", 0)
    assert type(other) is ResponseError and str(other) == "wrong number of arguments"
    with pytest.raises(InvalidResponse):
        parse_reply(b"?what\r\n", 0)


def test_commands_and_their_replies_on_a_live_connection() -> None:
    from django.core.cache import cache

    own = OwnConnection()
    name = f"own-connection-{time.time_ns()}"
    key = cache.make_key(name)
    try:
        first = own.send(command("SET", key, "1", "NX", "EX", "10"))
        assert own.read(first) == b"OK"
        assert own.read(own.send(command("SET", key, "1", "NX", "EX", "10"))) is None
        assert own.read(own.send(command("GET", key))) == b"1"

        # an error reply raises, and leaves the connection in step for the next command
        with pytest.raises(NoScriptError):
            own.read(own.send(command("EVALSHA", "0" * 40, "0")))
        with pytest.raises(ResponseError):
            own.read(own.send(command("INCRBYFLOAT", key, "x")))
        connection = own.send(command("EXISTS", key))
        assert own.read(connection) == 1
        assert own.send(command("PING")) is connection  # the same connection, still usable
        assert own.read(connection) == b"PONG"
    finally:
        cache.delete(name)
