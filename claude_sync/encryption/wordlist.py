"""The 2048 words of a recovery phrase (11 bits each), generated rather than stored.

Each word is consonant, vowel, consonant, vowel (16 x 4 x 16 x 2 = 2048): four letters,
pronounceable, and no two words share their spelling, so a typo is caught by the word
check or the checksum. The order is part of the format: never change it.
"""

from __future__ import annotations

_CONSONANTS = "bdfghjklmnprstvz"
_VOWELS = "aeio"
_ENDINGS = "ao"

WORDS: tuple[str, ...] = tuple(
    a + b + c + d for a in _CONSONANTS for b in _VOWELS for c in _CONSONANTS for d in _ENDINGS
)
INDEX = {w: i for i, w in enumerate(WORDS)}
assert len(WORDS) == 2048 and len(INDEX) == 2048
