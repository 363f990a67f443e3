"""Public IDs: the fast encoding of an ID's body is the plain one, bit for bit."""

from __future__ import annotations

import random

from engium.ids import _encode, _encode_body


def test_the_fast_encoding_is_the_plain_one() -> None:
    rng = random.Random(7)
    cases = [(0, 0), (2**50 - 1, 2**80 - 1), (1, 1), (2**49, 2**79)]
    cases += [(rng.getrandbits(50), rng.getrandbits(80)) for _ in range(5000)]
    for millis, rand in cases:
        assert _encode_body(millis, rand) == _encode(millis, 10) + _encode(rand, 16)
