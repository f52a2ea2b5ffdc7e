"""Credentials out of what a record keeps: command lines and URLs.

Records are permanent (an erasure removes bytes, never a record), so a password typed on a
command line (``--db-url postgresql://admin:hunter2@db/x``) or a token in a remote URL
(``https://host/repo.git?access_token=…``) must be removed when it is captured, not later.
What is removed is replaced by ``***``, so the record still says that something was there.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "redact_argv", "redact_command", "redact_url"]

MASK = "***"
#: Words of option, variable and query parameter names whose values are secrets (a name is
#: split at ``-``, ``_`` and ``.``: ``--db-password``, ``AWS_SECRET_ACCESS_KEY``, but not
#: ``--tokenizer``).
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "passphrase",
        "pwd",
        "secret",
        "token",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "signature",
        "sig",
        "apikey",
    }
)
#: Two words that make a secret together (``api-key``, ``private_key`` ...).
_SECRET_PAIRS = frozenset({"apikey", "accesskey", "privatekey", "secretkey", "sessionkey"})
#: ``scheme://user:password@`` anywhere in a word. A scheme starts where a run of scheme
#: characters starts (the lookbehind): tried from every position of a long run, the match
#: would cost the square of its length (a 1 MiB word: hours).
_USERINFO = re.compile(
    r"(?<![a-zA-Z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@"
)
_URL = re.compile(r"(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


def _secret_name(name: str) -> bool:
    words = [w for w in re.split(r"[-_.]+", name.lower().lstrip("-")) if w]
    pairs = {a + b for a, b in itertools.pairwise(words)}
    return bool(_SECRET_WORDS.intersection(words) or _SECRET_PAIRS & pairs)


def redact_url(url: str) -> str:
    """``url`` with any password in its user info and the values of secret query parameters
    masked."""
    url = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, MASK if _secret_name(k) else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with its secrets masked: URLs (as :func:`redact_url`), ``--password=X``,
    ``--token X``, ``AWS_SECRET_ACCESS_KEY=X``."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        name, eq, _ = arg.partition("=")
        if eq and _secret_name(name) and not _URL.match(arg):
            out.append(f"{name}={MASK}")
            continue
        if arg.startswith("-") and not eq and _secret_name(arg):
            out.append(arg)
            mask_next = True
            continue
        out.append(_URL.sub(lambda m: redact_url(m.group(0)), arg))
    return out


#: Past this length a command is not split as shell words (``shlex`` takes quadratic time:
#: 10 s for 1 MiB) but masked as text.
_SPLIT_MAX = 64 << 10
#: ``NAME=value`` and ``--name value`` in a text, for :func:`_redact_text`.
_ASSIGNED = re.compile(r"(?<![^\s])(-{0,2}[A-Za-z_][\w.-]*)(=|\s+)(\S+)")


def redact_command(command: str) -> str:
    """A shell command string with its secrets masked, word by word (a string that does not
    split as shell words, or a very long one, is masked as text)."""
    if len(command) > _SPLIT_MAX:
        return _redact_text(command)
    try:
        words = shlex.split(command)
    except ValueError:
        return _redact_text(command)
    redacted = redact_argv(words)
    return command if redacted == words else shlex.join(redacted)


def _redact_text(text: str) -> str:
    """:func:`redact_argv`'s masking on a text not split into words: URLs, then values after
    secret names (``--password X``, ``--token=X``, ``API_KEY=X``)."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)

    def mask(m: re.Match[str]) -> str:
        name, sep = m.group(1), m.group(2)
        secret = _secret_name(name) and (sep == "=" or name.startswith("-"))
        return f"{name}{sep}{MASK}" if secret else m.group(0)

    return _ASSIGNED.sub(mask, text)
