"""How guessable a secret is: a conservative estimate of its entropy in bits.

Length alone says nothing (32 spaces are 32 characters). Like zxcvbn's brute-force and
sequence matchers, each character is worth log2 of the pool its character classes span
(lower case, upper case, digits, symbols), unless a guesser would try it first: a repeat of
the previous character, the next or previous in an alphabetic or numeric run (`abc`, `321`),
a neighbouring key on a QWERTY keyboard (`qwerty`, `1qaz`), or the second of a pair already
seen (`abab...`, a pasted block twice). Those count one bit. Words are not looked up: a long
passphrase passes, a pattern does not.
"""

from __future__ import annotations

import math
import string

_ROWS = ("1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_SHIFTED = dict(zip('!@#$%^&*()_+{}|:"<>?', "1234567890-=[]\\;',./", strict=True))


def _key_positions() -> dict[str, tuple[int, int]]:
    return {key: (row, col) for row, keys in enumerate(_ROWS) for col, key in enumerate(keys)}


_POSITIONS = _key_positions()
# A staggered keyboard: each key touches its row neighbours and two keys above and below.
_TOUCHING = ((0, -1), (0, 1), (-1, 0), (-1, 1), (1, 0), (1, -1))


def _key(char: str) -> tuple[int, int] | None:
    lowered = _SHIFTED.get(char, char.lower())
    return _POSITIONS.get(lowered)


def _neighbours(a: str, b: str) -> bool:
    here, there = _key(a), _key(b)
    if here is None or there is None:
        return False
    return (there[0] - here[0], there[1] - here[1]) in _TOUCHING


def _pool(secret: str) -> int:
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    size = sum(len(c) for c in classes if any(ch in c for ch in secret))
    if any(not ch.isascii() for ch in secret):
        size += 100  # beyond ASCII: a generous guess, still far below Unicode's size
    if any(ch.isascii() and not ch.isalnum() for ch in secret):
        size += 33  # printable ASCII symbols and the space
    return max(size, 2)


def _predictable(secret: str, i: int, seen_pairs: set[str]) -> bool:
    previous, char = secret[i - 1], secret[i]
    return (
        char == previous
        or abs(ord(char) - ord(previous)) == 1
        or _neighbours(previous, char)
        or secret[i - 1 : i + 1] in seen_pairs
    )


def estimated_bits(secret: str) -> float:
    """Estimated entropy of `secret` in bits (0 for the empty string)."""
    if not secret:
        return 0.0
    per_char = math.log2(_pool(secret))
    bits = per_char
    seen_pairs: set[str] = set()
    for i in range(1, len(secret)):
        bits += 1.0 if _predictable(secret, i, seen_pairs) else per_char
        seen_pairs.add(secret[i - 1 : i + 1])
    return bits
