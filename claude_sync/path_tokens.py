"""Replace a device's absolute paths with portable tokens, and back.

A carried file never holds this device's project, projects-root or home path:
they become ``${PROJECT_ROOT}``, ``${PROJECTS_ROOT}`` and ``${HOME}``. Pulling
turns them into the receiving device's paths.

Design points (see docs/path-tokens.md for the full grammar):

* Pure functions over text. A *context* says how the text encodes a path:
  ``JSON`` for text inside JSON strings (``.jsonl``/``.json`` files, where a
  Windows backslash is written ``\\\\``), ``RAW`` for everything else.
* Whole path components only: ``/home/a/proj`` never rewrites
  ``/home/a/project2``. Longest path first, so the project wins over home.
* Windows paths match with either drive-letter case and any mix of ``\\``,
  ``/`` (and ``\\\\`` in JSON). A non-canonical spelling is kept in the token
  (``${HOME|c:/\\}``) so that the same device restores it byte for byte.
* Text that already contains token-like strings is escaped: ``$`` is written
  ``${$}`` whenever it starts something that reads as a token, so literal
  ``${HOME}`` in a shell script comes back unchanged everywhere.
* Across flavours (Windows -> POSIX or back) the path that continues after a
  token has its separators converted to the receiving device's.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "TOKEN_NAMES",
    "Context",
    "Flavour",
    "PathTokens",
    "json_escape",
    "split_path",
]


class Flavour(str, enum.Enum):
    POSIX = "posix"
    WINDOWS = "windows"


class Context(str, enum.Enum):
    JSON = "json"  # inside JSON strings: backslashes are escaped
    RAW = "raw"


PROJECT_ROOT = "PROJECT_ROOT"
PROJECTS_ROOT = "PROJECTS_ROOT"
HOME = "HOME"
TOKEN_NAMES = (PROJECT_ROOT, PROJECTS_ROOT, HOME)
_ESCAPE_NAME = "$"

_NAMES_RE = "|".join([*TOKEN_NAMES, re.escape(_ESCAPE_NAME)])
# A token: ${NAME} or ${NAME|variant}; the variant spells drive case and separators.
_TOKEN_RE = re.compile(r"\$\{(" + _NAMES_RE + r")(?:\|([^}]*))?\}")
# Characters that continue a path component: a match must not be followed or
# preceded by one (so /home/a/proj does not match inside /home/a/project2).
# Punctuation continues a name only when a word character follows it, so the
# full stop after "in /home/a." ends the path but ".bak" in "/home/a.bak" does not.
_NAME_CHARS = r"\w.\-~+@%="
_AFTER = r"(?!\w|[.\-~+@%=]+\w)"
_BEFORE = r"(?<![" + _NAME_CHARS + r"])"
_WIN_DRIVE_RE = re.compile(r"^([A-Za-z]):[\\/]?")


def json_escape(text: str) -> str:
    """Text as it appears inside a JSON string written by JSON.stringify."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def split_path(path: str, flavour: Flavour) -> tuple[str, list[str]]:
    """Split an absolute path into (drive, components); drive is '' on POSIX."""
    if flavour is Flavour.WINDOWS:
        m = _WIN_DRIVE_RE.match(path)
        if not m:
            raise ValueError(f"not an absolute Windows path: {path!r}")
        rest = path[m.end() :]
        comps = [c for c in re.split(r"[\\/]+", rest) if c]
        return m.group(1).upper(), comps
    if not path.startswith("/"):
        raise ValueError(f"not an absolute POSIX path: {path!r}")
    return "", [c for c in path.split("/") if c]


def _sep(flavour: Flavour, ctx: Context) -> str:
    if flavour is Flavour.POSIX:
        return "/"
    return "\\\\" if ctx is Context.JSON else "\\"


def _sep_pattern(flavour: Flavour, ctx: Context) -> str:
    if flavour is Flavour.POSIX:
        return "/"
    return r"(?:\\\\|/)" if ctx is Context.JSON else r"[\\/]"


def _render(drive: str, comps: list[str], flavour: Flavour, ctx: Context, seps: list[str] | None = None) -> str:
    """A path spelled for `ctx`; `seps` overrides each separator (same count as comps)."""
    enc = [json_escape(c) if ctx is Context.JSON else c for c in comps]
    default = _sep(flavour, ctx)
    if seps is None or len(seps) != len(enc):
        # A variant from another device with another depth: keep its style if uniform.
        uniform = seps[0] if seps and all(s == seps[0] for s in seps) else default
        seps = [uniform] * len(enc)
    head = f"{drive}:" if flavour is Flavour.WINDOWS else ""
    return head + "".join(s + c for s, c in zip(seps, enc))


@dataclass(frozen=True)
class _Entry:
    name: str
    drive: str
    comps: list[str]


class PathTokens:
    """The token table of one device: which absolute path each token stands for."""

    def __init__(
        self,
        paths: dict[str, str],
        flavour: Flavour = Flavour.POSIX,
    ) -> None:
        unknown = set(paths) - set(TOKEN_NAMES)
        if unknown:
            raise ValueError(f"unknown path tokens: {sorted(unknown)}")
        self.flavour = flavour
        self.paths = dict(paths)
        entries = []
        for name in TOKEN_NAMES:  # this order breaks ties between equal paths
            if name not in paths:
                continue
            drive, comps = split_path(paths[name], flavour)
            if not comps:
                raise ValueError(f"refusing to tokenize a filesystem root for ${{{name}}}: {paths[name]!r}")
            entries.append(_Entry(name, drive, comps))
        # Longest first, so that the project path wins over home.
        entries.sort(key=lambda e: -sum(len(c) + 1 for c in e.comps))
        self._entries = entries
        self._by_name = {e.name: e for e in entries}
        self._tokenize_re = {ctx: self._build_tokenize_re(ctx) for ctx in Context}

    # -- push side ---------------------------------------------------------

    def _build_tokenize_re(self, ctx: Context) -> re.Pattern[str]:
        alts = [r"(?P<esc>\$(?=\{(?:" + _NAMES_RE + r")(?:\|[^}]*)?\}))"]
        sep = _sep_pattern(self.flavour, ctx)
        for i, e in enumerate(self._entries):
            comps = "".join(sep + re.escape(json_escape(c) if ctx is Context.JSON else c) for c in e.comps)
            if self.flavour is Flavour.WINDOWS:
                head = "[" + e.drive.upper() + e.drive.lower() + "]:"
            else:
                head = ""
            alts.append(f"(?P<p{i}>{_BEFORE}{head}{comps}{_AFTER})")
        return re.compile("|".join(alts))

    def tokenize(self, text: str, ctx: Context = Context.JSON) -> str:
        """Replace this device's paths in `text` with tokens; escape literal tokens."""
        entries = self._entries

        def repl(m: re.Match[str]) -> str:
            if m.lastgroup == "esc":
                return "${$}"
            e = entries[int(m.lastgroup[1:])]  # type: ignore[index]
            canonical = _render(e.drive, e.comps, self.flavour, ctx)
            matched = m.group(0)
            if matched == canonical:
                return "${" + e.name + "}"
            # Keep the spelling (drive case, separators) so this device restores it exactly.
            variant = matched[0] + ":" + "".join(self._separators_of(matched, e, ctx))
            return "${" + e.name + "|" + variant + "}"

        return self._tokenize_re[ctx].sub(repl, text)

    def _separators_of(self, matched: str, e: _Entry, ctx: Context) -> list[str]:
        seps = []
        pos = 2  # after "X:"
        for c in e.comps:
            s = "\\\\" if matched.startswith("\\\\", pos) and ctx is Context.JSON else matched[pos]
            seps.append(s)
            pos += len(s) + len(json_escape(c) if ctx is Context.JSON else c)
        return seps

    # -- pull side ---------------------------------------------------------

    def detokenize(self, text: str, ctx: Context = Context.JSON, source: Flavour | None = None) -> str:
        """Replace tokens with this device's paths; `source` is the pushing device's flavour."""
        source = source or self.flavour
        cross = source is not self.flavour
        if not cross:
            return _TOKEN_RE.sub(lambda m: self._expand(m, ctx), text)
        # Across flavours, also convert the separators of the path that follows a token.
        src_sep = _sep_pattern(source, ctx)
        name = r"[^\\/\s\"'<>|:*?;,()\[\]{}$]+"
        tail_re = re.compile(r"(?:" + src_sep + name + r")*" + r"(?:" + src_sep + r")?")
        out = []
        pos = 0
        for m in _TOKEN_RE.finditer(text):
            out.append(text[pos : m.start()])
            out.append(self._expand(m, ctx))
            pos = m.end()
            if m.group(1) == _ESCAPE_NAME:
                continue
            tail = tail_re.match(text, pos)
            if tail and tail.group(0):
                parts = re.split(src_sep, tail.group(0))
                out.append(_sep(self.flavour, ctx).join(parts))
                pos = tail.end()
        out.append(text[pos:])
        return "".join(out)

    def _expand(self, m: re.Match[str], ctx: Context) -> str:
        name, variant = m.group(1), m.group(2)
        if name == _ESCAPE_NAME:
            return "$"
        e = self._by_name.get(name)
        if e is None:
            raise KeyError(f"this device has no path for ${{{name}}}")
        if variant is None or self.flavour is Flavour.POSIX:
            return _render(e.drive, e.comps, self.flavour, ctx)
        drive = e.drive.lower() if variant[:1].islower() else e.drive.upper()
        seps = _parse_seps(variant[2:], ctx)
        return _render(drive, e.comps, self.flavour, ctx, seps)

    def tokens_in(self, text: str) -> Iterable[str]:
        """Names of the path tokens used in `text` (escapes excluded)."""
        return {m.group(1) for m in _TOKEN_RE.finditer(text) if m.group(1) != _ESCAPE_NAME}


def _parse_seps(spelled: str, ctx: Context) -> list[str]:
    seps = []
    i = 0
    while i < len(spelled):
        if ctx is Context.JSON and spelled.startswith("\\\\", i):
            seps.append("\\\\")
            i += 2
        else:
            seps.append(spelled[i])
            i += 1
    return seps
