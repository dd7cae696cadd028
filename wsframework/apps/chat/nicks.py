"""Nicknames: what may be one, and when two are the same.

A nickname is shown as typed (stripped), but compared by its *key*:

1. Unicode NFKC normalisation, then case folding (``Alice``, ``ＡＬＩＣＥ``
   and ``alice`` are one name);
2. refused outright: control characters, format characters (category
   ``Cf``: zero-width spaces and joiners, bidi embeddings, overrides and
   isolates, the BOM), private-use, unassigned and surrogate code points,
   line and paragraph separators;
3. refused: letters of more than one script in one name (``аlice`` with a
   Cyrillic ``а``), the usual trick of a look-alike (Han, Hiragana and
   Katakana count as one script, Japanese mixes them);
4. compared by a *skeleton*: Cyrillic and Greek letters that look like
   Latin ones are mapped to them in the key, so an all-Cyrillic ``асе``
   is the same name as ``ace`` (a subset of Unicode's confusables, UTS
   #39, for the scripts people most often meet in chat).

The rule is deliberately strict and small; it is documented in
``docs/explanation/chat-cluster.md``.
"""

from __future__ import annotations

import unicodedata

__all__ = ["NicknameError", "nick_key", "MAX_NICK"]

MAX_NICK = 32

_REFUSED_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}

# Look-alikes of Latin letters (after case folding), from Unicode's
# confusables.txt: Cyrillic and Greek.
_SKELETON = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ь": "b",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "μ": "u",
})

# Scripts that are one script for this rule.
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "CJK": "CJK", "HALFWIDTH": "CJK"}


class NicknameError(ValueError):
    """Not a nickname; the message says why (sent to the client)."""


def _script(char: str) -> str | None:
    """The script of a letter, from its Unicode name's first word (None
    for anything that is not a letter: digits, punctuation, symbols)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    return _SCRIPT_GROUPS.get(first, first)


def nick_key(nick: object) -> tuple[str, str]:
    """``(display, key)`` for a proposed nickname: the name as shown
    (stripped) and the key two names are compared by.  Raises
    :class:`NicknameError` when it cannot be a nickname."""
    if not isinstance(nick, str):
        raise NicknameError("nicknames are 1-32 printable characters")
    display = nick.strip()
    if not display or len(display) > MAX_NICK:
        raise NicknameError("nicknames are 1-32 printable characters")
    for char in display:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise NicknameError("nicknames are 1-32 printable characters "
                                "(no control, zero-width or bidi characters)")
    folded = unicodedata.normalize("NFKC", display).casefold()
    folded = unicodedata.normalize("NFKC", folded)
    scripts = {s for s in map(_script, folded) if s is not None}
    if len(scripts) > 1:
        raise NicknameError("nicknames may not mix letters of different scripts")
    key = folded.translate(_SKELETON)
    # Spaces of any kind compare as one.
    return display, " ".join(key.split())
