"""Blank text: what "nothing written" means for every field that must say something (a reason,
evidence, a rule's name and standards, an Open311 address, a grid id).

Text is blank when it holds no character a reader can see: none at all, only whitespace (any
Unicode space, NBSP and the ideographic space U+3000 included), or only characters that draw
nothing, such as the zero-width space (U+200B), joiners (ZWJ, ZWNJ), the BOM (U+FEFF),
direction marks, variation selectors, Hangul fillers and the braille blank (U+2800). Python's
``str.strip()`` keeps the invisible ones, so a note of zero-width spaces passed as text.
"""

from __future__ import annotations

import unicodedata

__all__ = ["is_blank", "strip_blank", "is_invisible"]

#: Characters that draw nothing and are no whitespace: Unicode's Default_Ignorable_Code_Point
#: set (DerivedCoreProperties.txt) as ranges, and the braille blank, which looks like a space.
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),  # bidirectional embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidirectional isolates
    (0x2800, 0x2800),  # braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # BOM, zero-width no-break space
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned specials
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE0FFF),  # tags and variation selectors supplement
)


def is_invisible(char: str) -> bool:
    """Whether one character draws nothing: whitespace, a control character or one of
    :data:`_INVISIBLE_RANGES`."""
    if char.isspace() or unicodedata.category(char) == "Cc":
        return True
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _INVISIBLE_RANGES)


def is_blank(text: str | None) -> bool:
    """Whether ``text`` shows nothing: None, empty, or only invisible characters.

    >>> is_blank(" \\u3000\\t"), is_blank("\\u200b\\u200d\\ufeff\\u00a0"), is_blank("拆除")
    (True, True, False)
    """
    return text is None or all(is_invisible(c) for c in text)


def strip_blank(text: str) -> str:
    """``text`` without the invisible characters at either end (what ``str.strip()`` does
    for whitespace). A mark that belongs to the character before it (a variation selector
    after an emoji) is kept; blank text becomes "".

    >>> strip_blank("\\ufeff 违建已拆除\\u200b ")
    '违建已拆除'
    """
    if is_blank(text):
        return ""
    start, end = 0, len(text)
    while is_invisible(text[start]):
        start += 1
    while is_invisible(text[end - 1]) and unicodedata.category(text[end - 1]) != "Mn":
        end -= 1
    return text[start:end]
