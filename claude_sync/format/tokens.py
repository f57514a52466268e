"""Replace a device's absolute paths with portable tokens, and back.

A carried file never holds this device's project, projects-root or home path:
they become ``${PROJECT_ROOT}``, ``${PROJECTS_ROOT}`` and ``${HOME}``. Pulling
turns them into the receiving device's paths.

Design points (see docs/path-tokens.md for the full grammar):

* Pure functions over text. A *context* says how the text encodes a path:
  ``JSON`` for text inside JSON strings (``.jsonl``/``.json`` files, where a
  Windows backslash is written ``\\\\``), ``RAW`` for everything else.
* Whole path components only: ``/home/a/proj`` never rewrites
  ``/home/a/project2``, ``/home/a/proj.bak`` or ``/x/home/a/proj``, but does
  rewrite it before ``.``, ``,``, ``:``, quotes, whitespace, ``\\n`` or the
  end. Longest path first, so the project wins over home.
* Windows paths match with either drive-letter case and any mix of ``\\``,
  ``/`` (and ``\\\\`` in JSON). A non-canonical spelling is kept in the token
  (``${HOME|c:/\\}``) so that the same device restores it byte for byte.
* Text that already contains token-like strings is escaped: ``$`` is written
  ``${$}`` whenever it is followed by ``{NAME}`` or ``{NAME|`` (NAME a token
  name or ``$``), so literal ``${HOME}`` in a shell script comes back
  unchanged everywhere. The decision looks only at ``{NAME`` and the next
  character, never at a variant, so inserting tokens cannot make an
  unescaped ``$`` read as a token afterwards.
* Across flavours (Windows -> POSIX or back) the path that continues after a
  token has its separators converted to the receiving device's.
* The client's own folder for the project (``projects/<enc>``, its spelling of
  the project path) is a path too: ``${PROJECT_FOLDER}`` stands for that one
  component wherever it is a whole component of a path (after a separator, not
  continued by a name character), so ``.../projects/-home-a-code-api/<sid>/...``
  and ``/tmp/claude-<uid>/-home-a-code-api/...`` name B's folder on B.
* A session in a subfolder of a repository checkout has two more: ``${REPO_ROOT}``,
  the top of the checkout (placed by the project key, so it may live anywhere on
  B), and ``${REPO_FOLDER}``, the client's folder for the repository (where it keeps
  the auto-memory of every folder in it, since 2.1.332). A bundle that uses them is
  of bundle format 2, which older devices refuse to read instead of writing the
  tokens out literally; a format 1 bundle is read with the older names only.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "FOLDER_NAMES",
    "PROJECT_FOLDER",
    "REPO_FOLDER",
    "REPO_ROOT",
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
REPO_ROOT = "REPO_ROOT"  # the top of the checkout, for a session in a subfolder of it
PROJECTS_ROOT = "PROJECTS_ROOT"
HOME = "HOME"
TOKEN_NAMES = (PROJECT_ROOT, REPO_ROOT, PROJECTS_ROOT, HOME)  # this order breaks ties between equal paths
# Tokens for one path component rather than a path: the client's folder names (under projects/)
# for the project and for the repository that holds it.
PROJECT_FOLDER = "PROJECT_FOLDER"
REPO_FOLDER = "REPO_FOLDER"
FOLDER_NAMES = (PROJECT_FOLDER, REPO_FOLDER)
_ESCAPE_NAME = "$"
# The names a bundle of format 1 may use (before REPO_ROOT and REPO_FOLDER existed): in one
# written then, "${REPO_ROOT}" is literal text that was not escaped.
_FORMAT_1_NAMES = (PROJECT_ROOT, PROJECTS_ROOT, HOME, PROJECT_FOLDER)
NEW_IN_FORMAT_2 = (REPO_ROOT, REPO_FOLDER)


def _token_re(names: Iterable[str]) -> re.Pattern[str]:
    # A token: ${NAME} or ${NAME|variant}; the variant spells drive case and separators, as
    # the grammar says (docs/path-tokens.md), and no more: any other text is not a token, so a
    # token holds no `$` or `{` and a Windows path's separators (at most 32,767 characters;
    # JSON spells a backslash with two) keep it well within _CUT_MARGIN.
    alts = "|".join([*names, re.escape(_ESCAPE_NAME)])
    return re.compile(r"\$\{(" + alts + r")(?:\|([A-Za-z]:[\\/]{0,65536}))?\}")


_NAMES_RE = "|".join([*TOKEN_NAMES, *FOLDER_NAMES, re.escape(_ESCAPE_NAME)])
_TOKEN_RE = _token_re([*TOKEN_NAMES, *FOLDER_NAMES])
_FORMAT_1_TOKEN_RE = _token_re(_FORMAT_1_NAMES)
# The same patterns over UTF-8 bytes: tokens are ASCII, and in UTF-8 an ASCII byte is never part
# of another character, so they match exactly where the text patterns match in the decoded text.
_TOKEN_BYTES_RE = re.compile(_TOKEN_RE.pattern.encode("ascii"))
_FORMAT_1_TOKEN_BYTES_RE = re.compile(_FORMAT_1_TOKEN_RE.pattern.encode("ascii"))
_CUT_MARGIN = 96 * 1024  # a token is whole within this many bytes of where it starts (safe_cut)
# A "$" that must be escaped on push: followed by "{NAME}" or "{NAME|".
_NEEDS_ESCAPE_RE = r"\$(?=\{(?:" + _NAMES_RE + r")[|}])"

# The boundary rule. A match must not be preceded by a character that would
# make it the tail of a longer path or name (so /home/a/proj does not match
# inside /x/home/a/proj or ./home/a/proj), nor followed by one that continues
# its last component (so it does not match inside /home/a/project2).
# Punctuation continues a name only when a word character follows it, so the
# full stop after "in /home/a." ends the path but ".bak" in "/home/a.bak" does not.
_AFTER = r"(?!\w|[.\-~+@%=]+\w)"
# Characters that may not precede the leading "/" of a POSIX match ("=", "@",
# ":" and quotes may: --dir=/home/a, @/home/a/f.py, PATH=/x:/home/a/bin).
_POSIX_BEFORE = r"\w.\-~+%/"
# Characters that may not precede the drive letter of a Windows match ("/" and
# "\" may: file:///C:/Users/x, \\?\C:\Users\x).
_WINDOWS_BEFORE = r"\w.\-~+%"
# After a folder-name match: its own alphabet ([A-Za-z0-9-], "_" with the host's override)
# must not go on, so "-home-a-api" is not found inside "-home-a-api-2" or "-home-a-api-".
_FOLDER_AFTER = r"(?![\w\-]|[.~+@%=]+\w)"
# "C:\..." or "C:/..."; "C:foo" is relative to the drive's current directory.
_WIN_DRIVE_RE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
# A path component in the text that follows a token (cross-flavour conversion).
_TAIL_CHAR = r"[^\\/\s\"'<>|:*?;,()\[\]{}$]"
# Characters that end such a path (ASCII, so never inside a UTF-8 character): where a long line
# may be cut (safe_cut). Neither a separator nor a space (a Windows component may hold one).
_PATH_ENDS = [bytes([c]) for c in b"\"'<>|:*?;,()[]\t\r"]


def _allowances(first: str, ctx: Context, flavour: Flavour) -> list[str]:
    """Lookbehinds naming what else may stand right before a match.

    Besides a character outside the "before" set (or the start of the text):
    a JSON escape such as \\n or \\t, an ANSI colour code (ESC[1;34m), on POSIX
    "file://" and a one-letter option glued to the path (-I/home/a/inc).
    They run after the start of the match has been consumed: `first` is a
    pattern of that width ("/home" on POSIX, "X:" on Windows).
    """
    # In JSON the backslash of an escape must be real: the run of backslashes
    # ending there has odd length (1, 3 or 5 recognised), so the literal
    # backslash + "n", written \\n, does not count.
    esc = r"\\u001[bB]" if ctx is Context.JSON else r"\x1b"
    out = [r"(?<=(?<!\\)" + esc + r"\[[0-9;]{%d}m" % k + first + ")" for k in range(9)]
    if ctx is Context.JSON:
        out += [r"(?<=(?<!\\)" + r"\\" * (2 * k) + r"\\[nrtbf]" + first + ")" for k in range(3)]
    if flavour is Flavour.POSIX:
        out += [
            r"(?<=[fF][iI][lL][eE]://" + first + ")",
            r"(?<=(?<![" + _POSIX_BEFORE + r"])-[A-Za-z]" + first + ")",
        ]
    return out


def _spell(text: str, ctx: Context) -> str:
    return json_escape(text) if ctx is Context.JSON else text


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


def _render(drive: str, enc: list[str], flavour: Flavour, ctx: Context, seps: list[str] | None = None) -> str:
    """A path spelled for `ctx` from its already encoded components.

    `seps` overrides each separator (same count as components).
    """
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

    def encoded(self, ctx: Context) -> list[str]:
        return [json_escape(c) for c in self.comps] if ctx is Context.JSON else list(self.comps)


@dataclass(frozen=True)
class _Scanner:
    """The tokenizing pattern of one context, and the literal strings its matches start with.

    `pattern.sub` would find the same matches, but the regex engine looks for the
    possible first characters one position at a time, through a function call per
    character; str.find skips to each lead at memory speed (tokenizing the default
    bench corpus takes 0.66 s instead of 1.12 s per 236 MB).
    """

    pattern: re.Pattern[str]
    groups: dict[str, _Entry]
    leads: list[str]

    def sub(self, repl: Callable[[re.Match[str]], str], text: str) -> str:
        """`pattern.sub(repl, text)`, trying the pattern only where a lead starts."""
        starts: set[int] = set()
        for lead in self.leads:
            at = text.find(lead)
            while at >= 0:
                starts.add(at)
                at = text.find(lead, at + 1)
        if not starts:
            return text
        match = self.pattern.match
        out: list[str] = []
        done = 0  # the text before it is copied or replaced
        for at in sorted(starts):
            if at < done:
                continue  # inside the previous match: sub() does not look for overlapping ones
            # match() at a position still sees the text before it (lookbehinds) and after it.
            m = match(text, at)
            if m is not None:
                out.append(text[done:at])
                out.append(repl(m))
                done = m.end()
        if not out:
            return text
        out.append(text[done:])
        return "".join(out)


def _text_end(data: bytes, start: int) -> int:
    """Where text without a token, data[start:], may be cut: at its end, but its last character,
    which may not be whole, and a `$` that may start a token go with the next piece."""
    n, back = len(data), 0
    while n > start and back < 3 and data[n - 1] & 0xC0 == 0x80:
        n, back = n - 1, back + 1
    if n > start and data[n - 1] >= 0xC0:
        n -= 1
    if n > start and data[n - 1] == 0x24:
        n -= 1
    return n


class PathTokens:
    """The token table of one device: which absolute path each token stands for."""

    def __init__(
        self,
        paths: dict[str, str],
        flavour: Flavour = Flavour.POSIX,
        project_folder: str | None = None,
        repo_folder: str | None = None,
    ) -> None:
        unknown = set(paths) - set(TOKEN_NAMES)
        if unknown:
            raise ValueError(f"unknown path tokens: {sorted(unknown)}")
        folders = {PROJECT_FOLDER: project_folder, REPO_FOLDER: repo_folder}
        for folder in folders.values():
            if folder is not None and (folder in ("", ".", "..") or re.search(r"[\\/\x00-\x1f]", folder)):
                raise ValueError(f"not a folder name: {folder!r}")
        self.flavour = Flavour(flavour)
        self.paths = dict(paths)
        self.project_folder = project_folder
        self.repo_folder = repo_folder
        # The folder names as each context spells them (JSON escaping leaves the client's alphabet alone).
        self._folders = {
            ctx: {name: _spell(f, ctx) for name, f in folders.items() if f is not None} for ctx in Context
        }
        entries = []
        for name in TOKEN_NAMES:  # this order breaks ties between equal paths
            if name not in paths:
                continue
            drive, comps = split_path(paths[name], self.flavour)
            if not comps:
                raise ValueError(f"refusing to tokenize a filesystem root for ${{{name}}}: {paths[name]!r}")
            entries.append(_Entry(name, drive, comps))
        # Longest first, so that the project path wins over home.
        entries.sort(key=lambda e: -sum(len(c) + 1 for c in e.comps))
        self._entries = entries
        self._by_name = {e.name: e for e in entries}
        # The canonical spelling of each path, per context (what a plain token restores).
        self._canonical = {
            ctx: {e.name: _render(e.drive, e.encoded(ctx), self.flavour, ctx) for e in entries} for ctx in Context
        }
        # Built when first used: a pull only restores paths, and building them costs a few ms a session.
        self._scanners: dict[Context, _Scanner] = {}
        self._tail_re: dict[tuple[Flavour, Context], re.Pattern[str]] = {}

    # -- push side ---------------------------------------------------------

    def _build_scanner(self, ctx: Context) -> _Scanner:
        # Every alternative starts with a literal string (its "lead") and marks
        # itself with an empty named group at its end. tokenize() finds the leads
        # with str.find and runs the pattern only where one starts.
        alts = [_NEEDS_ESCAPE_RE + "(?P<esc>)"]
        leads = {"$"}  # not "${": find() of one character is a memchr, and "{" opens every JSON record
        groups: dict[str, _Entry] = {}
        sep = _sep_pattern(self.flavour, ctx)
        for i, e in enumerate(self._entries):
            enc = e.encoded(ctx)
            if self.flavour is Flavour.POSIX:
                # "/" and the first component first (cheap, and rare in text), then the
                # lookbehinds judge the character before the "/".
                first = "(?s:.){%d}" % (1 + len(enc[0]))
                before = [f"(?<![{_POSIX_BEFORE}]{first})", *_allowances(first, ctx, self.flavour)]
                head = "/" + re.escape(enc[0])
                rest = "".join(sep + re.escape(c) for c in enc[1:])
                heads = [("", head + "(?:" + "|".join(before) + ")" + rest)]
                leads.add("/" + enc[0])
            else:
                # "X:" first, then the lookbehinds judge the character before the drive letter.
                before = [f"(?<![{_WINDOWS_BEFORE}]..)", *_allowances("..", ctx, self.flavour)]
                lookbehind = "(?:" + "|".join(before) + ")"
                comps = "".join(sep + re.escape(c) for c in enc)
                heads = [
                    (case, letter + ":" + lookbehind + comps)
                    for case, letter in (("u", e.drive.upper()), ("l", e.drive.lower()))
                ]
                leads |= {e.drive.upper() + ":", e.drive.lower() + ":"}
            for case, body in heads:
                group = f"p{i}{case}"
                groups[group] = e
                alts.append(body + _AFTER + f"(?P<{group}>)")
        folders = dict(self._folders[ctx])
        if REPO_FOLDER in folders and folders[REPO_FOLDER] == folders.get(PROJECT_FOLDER):
            del folders[REPO_FOLDER]  # the same folder: it travels as the project's
        # Longest first, so that neither folder name is found as the start of the other.
        for name, folder in sorted(folders.items(), key=lambda kv: -len(kv[1])):
            # The folder name first (a literal), then a lookbehind for the separator before it:
            # "/" or "\" (in JSON an escaped backslash, a run of 2 or 4 that no backslash precedes).
            n = "(?s:.){%d}" % len(folder)
            if ctx is Context.JSON:
                seps = ["(?<=/" + n + ")"] + [r"(?<=(?<!\\)" + r"\\" * (2 * k) + n + ")" for k in (1, 2)]
            else:
                seps = [r"(?<=[\\/]" + n + ")"]
            alts.append(re.escape(folder) + "(?:" + "|".join(seps) + ")" + _FOLDER_AFTER + f"(?P<f_{name}>)")
            leads.add(folder)
        return _Scanner(re.compile("|".join(alts)), groups, sorted(leads))

    def tokenize(self, text: str, ctx: Context = Context.JSON) -> str:
        """Replace this device's paths in `text` with tokens; escape literal tokens."""
        ctx = Context(ctx)
        if ctx not in self._scanners:
            self._scanners[ctx] = self._build_scanner(ctx)
        scanner = self._scanners[ctx]
        groups = scanner.groups
        canonical = self._canonical[ctx]
        plain = {e.name: "${" + e.name + "}" for e in self._entries}
        def repl(m: re.Match[str]) -> str:
            group = m.lastgroup
            if group == "esc":
                return "${$}"
            if group.startswith("f_"):  # type: ignore[union-attr]
                return "${" + group[2:] + "}"  # type: ignore[index]
            e = groups[group]  # type: ignore[index]
            matched = m.group(0)
            if matched == canonical[e.name]:
                return plain[e.name]
            # Keep the spelling (drive case, separators) so this device restores it exactly.
            variant = matched[0] + ":" + "".join(self._separators_of(matched, e, ctx))
            return "${" + e.name + "|" + variant + "}"

        return scanner.sub(repl, text)

    def _separators_of(self, matched: str, e: _Entry, ctx: Context) -> list[str]:
        seps = []
        pos = 2  # after "X:"
        for c in e.encoded(ctx):
            s = "\\\\" if ctx is Context.JSON and matched.startswith("\\\\", pos) else matched[pos]
            seps.append(s)
            pos += len(s) + len(c)
        return seps

    # -- pull side ---------------------------------------------------------

    def detokenize(
        self, text: str, ctx: Context = Context.JSON, source: Flavour | None = None, bundle_format: int = 2
    ) -> str:
        """Replace tokens with this device's paths; `source` is the pushing device's flavour,
        `bundle_format` the format of the bundle the text comes from (which names are tokens)."""
        ctx = Context(ctx)
        source = self.flavour if source is None else Flavour(source)
        if "${" not in text:
            return text
        token_re = _FORMAT_1_TOKEN_RE if bundle_format < 2 else _TOKEN_RE
        if source is self.flavour:
            return token_re.sub(lambda m: self._expand(m, ctx), text)
        # Across flavours, also convert the separators of the path that follows a token.
        src_sep = _sep_pattern(source, ctx)
        tail_re = self._tail_re.get((source, ctx))
        if tail_re is None:
            component = _TAIL_CHAR + "+"
            if source is Flavour.WINDOWS:
                # "My Docs" in ...\My Docs\f.txt: a component with single spaces counts when
                # a backslash follows it (rare in prose, unlike "/" as in "and/or").
                backslash = r"\\\\" if ctx is Context.JSON else r"\\"
                component = f"(?:{component}(?: {component})*(?={backslash})|{component})"
            tail_re = re.compile("(?:" + src_sep + component + ")*(?:" + src_sep + ")?")
            self._tail_re[(source, ctx)] = tail_re
        dst_sep = _sep(self.flavour, ctx)
        out = []
        pos = 0
        for m in token_re.finditer(text):
            out.append(text[pos : m.start()])
            out.append(self._expand(m, ctx))
            pos = m.end()
            if m.group(1) == _ESCAPE_NAME:
                continue
            tail = tail_re.match(text, pos)
            if tail and tail.group(0):
                out.append(dst_sep.join(re.split(src_sep, tail.group(0))))
                pos = tail.end()
        out.append(text[pos:])
        return "".join(out)

    def detokenize_bytes(
        self, data: bytes, ctx: Context = Context.JSON, source: Flavour | None = None, bundle_format: int = 2
    ) -> bytes:
        """detokenize() of UTF-8 text, as UTF-8, without decoding and encoding all of it: a pulled
        transcript holds the same few tokens many thousand times, each worked out once here.
        `data` must be UTF-8 (a fetched bundle's text files are checked to be)."""
        ctx = Context(ctx)
        source = self.flavour if source is None else Flavour(source)
        if b"${" not in data:
            return data
        if source is not self.flavour:  # separators to convert too: the general path
            return self.detokenize(data.decode("utf-8"), ctx, source, bundle_format).encode("utf-8")
        token_re = _FORMAT_1_TOKEN_BYTES_RE if bundle_format < 2 else _TOKEN_BYTES_RE
        expanded: dict[bytes, bytes] = {}

        def expand(m: re.Match[bytes]) -> bytes:
            token = m.group(0)
            out = expanded.get(token)
            if out is None:  # the variant lies between ASCII delimiters: it is whole UTF-8 itself
                variant = m.group(2)
                name = m.group(1).decode("ascii")
                text = self._expand_token(name, None if variant is None else variant.decode("utf-8"), ctx)
                out = expanded[token] = text.encode("utf-8")
            return out

        return token_re.sub(expand, data)

    def safe_cut(self, data: bytes, source: Flavour | None = None, bundle_format: int = 2) -> int:
        """A length n such that detokenize_bytes of data[:n] and of the rest, joined, is that of data:
        how a text too large to hold is rendered a piece at a time. 0: none found, read more first.

        After the last newline (no token or path holds one). Else around the last `${` (every `${`
        the tokenizer wrote starts a token; a literal one is escaped): when it is a whole token,
        after the text that follows it (same flavour), or across flavours, where the path after it
        is converted too, before the last character there that no path holds (a quote ends a JSON
        string); else before it. With no `${`, at the end. Never within a UTF-8 character or
        before a trailing `$` (it may start a token).
        """
        nl = data.rfind(b"\n")
        if nl >= 0:
            return nl + 1
        at = data.rfind(b"${")
        if at < 0:
            return _text_end(data, 0)
        if at == 0 and len(data) < _CUT_MARGIN:  # a token at the start: wait until it is surely whole
            return 0
        source = self.flavour if source is None else Flavour(source)
        token_re = _FORMAT_1_TOKEN_BYTES_RE if bundle_format < 2 else _TOKEN_BYTES_RE
        m = token_re.match(data, at)
        if m is None:  # not a token (at the start, the `$` is text), or not whole yet
            return at or 1
        if source is self.flavour or m.group(1) == _ESCAPE_NAME.encode():
            return _text_end(data, m.end())
        end = max(data.rfind(b, m.end()) for b in _PATH_ENDS)
        return end if end >= 0 else at

    def _expand(self, m: re.Match[str], ctx: Context) -> str:
        return self._expand_token(m.group(1), m.group(2), ctx)

    def _expand_token(self, name: str, variant: str | None, ctx: Context) -> str:
        if name == _ESCAPE_NAME:
            return "$"
        if name in FOLDER_NAMES:
            folder = self._folders[ctx].get(name)
            if folder is None:
                raise KeyError(f"this device has no folder name for ${{{name}}}")
            return folder
        e = self._by_name.get(name)
        if e is None:
            raise KeyError(f"this device has no path for ${{{name}}}")
        if variant is None or self.flavour is Flavour.POSIX:
            return self._canonical[ctx][name]
        drive = e.drive.lower() if variant[:1].islower() else e.drive.upper()
        seps = _parse_seps(variant[2:], ctx)
        return _render(drive, e.encoded(ctx), self.flavour, ctx, seps)

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
