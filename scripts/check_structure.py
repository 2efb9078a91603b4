#!/usr/bin/env python3
"""Structure check for imgdex's Rust sources (plain Python 3, no dependencies).

Checks, and exits 1 on any violation:
  * the module import graph has no cycle;
  * no source file is over MAX_FILE_LINES lines;
  * no function (`fn` item with a body, tests included) is over MAX_FN_LINES
    lines, counted from the line of `fn` to the line of its closing brace;
  * every module file opens with a `//!` doc paragraph;
  * no string literal of the library names a CLI flag (`--name`): the
    library words settings as the library names them, and the CLI words
    them as its flags (src/cli/wording.rs). A `cargo ...` command in
    backticks is not a flag of imgdex's.

Sources: the crates rooted at src/lib.rs (the library, `crate::` inside it and
`imgdex::` from the binary) and src/main.rs (the binary: `crate::` inside it),
found by following `mod name;` declarations (with `#[path = "..."]`, so
files mounted from outside src/, such as migrations/, are included), plus any
other src/**/*.rs file as an orphan node.

Graph rule. A node is a module *file* (`foo.rs` or `foo/mod.rs`; inline
`mod x { ... }` blocks belong to their file). An edge A -> B is any path in A
that names B: `use` trees (expanded) and paths written in code starting with
`crate::`, `super::`, `self::` or `imgdex::`; a path resolves to the deepest
module file it names (`crate::store::Store` -> store, `crate::store::record::X`
-> store/record). Edges from a module to its own descendants (a parent naming
its children: `mod x;`, `pub use x::Y`, `x::f()`) are not counted: the children
are the parent's implementation, so a child's `super::`/`crate::parent::` edge
back to its parent is not a cycle. Every other edge, child -> parent and
between siblings or cousins, is counted, and a cycle is a strongly connected
component of more than one node (or a self-loop, which cannot occur here).
The same graph is then checked one level up, where a node is a top-level
module with all its descendants (lib::store = store/mod.rs + store/**, and
bin::cli for the binary's modules): no cycle there either, so that e.g.
store/results.rs -> learn and learn/dataset.rs -> store is reported even
though no single file closes the loop.

Usage: scripts/check_structure.py [--root DIR] [--verbose]
"""

import os
import re
import sys

MAX_FILE_LINES = 400
MAX_FN_LINES = 60

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


# ---------------------------------------------------------------- lexing


def strip_code(text, strings=None):
    """Blank out comments, string and char literals, keeping every newline
    (so offsets map to the same line numbers); each string literal's offset
    and text is appended to `strings` when given."""
    out = []
    i, n = 0, len(text)

    def blank(s):
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (
            i == 0 or not re.match(r"[A-Za-z0-9_]", text[i - 1])
        ):
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            if strings is not None:
                strings.append((i, text[i:j]))
            out.append('""' + blank(text[i + 2 : j]))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            if strings is not None:
                strings.append((i, text[i:j]))
            out.append('""' + blank(text[i + 2 : j]))
            i = j
        elif c == "'" or (c == "b" and text.startswith("b'", i)):
            m = re.compile(r"b?'(\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'\n])'").match(
                text, i
            )
            if m and (c == "'" or i == 0 or not re.match(r"[A-Za-z0-9_]", text[i - 1])):
                out.append(blank(m.group(0)))
                i = m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


FLAG = re.compile(r"(?<![A-Za-z0-9-])--[a-z][a-z0-9-]*")
CARGO_COMMAND = re.compile(r"`cargo [^`]*`")


def flags_named(text):
    """(line, flag) of each CLI flag a string literal of `text` names."""
    strings = []
    strip_code(text, strings)
    out = []
    for pos, lit in strings:
        # An escape (`\n--db`) is not a word before the flag.
        lit = re.sub(r"\\.", " ", CARGO_COMMAND.sub("", lit))
        for m in FLAG.finditer(lit):
            out.append((line_of(text, pos), m.group(0)))
    return out


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def match_brace(code, open_pos):
    """Offset of the `}` closing the `{` at open_pos (or len(code))."""
    depth = 0
    for j in range(open_pos, len(code)):
        ch = code[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code)


def inline_mod_spans(code):
    """(start, end) of every inline `mod x { ... }` block."""
    spans = []
    for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{", code):
        spans.append((m.end() - 1, match_brace(code, m.end() - 1)))
    return spans


# ---------------------------------------------------------------- modules


class Module:
    def __init__(self, path, file, is_dir_owner):
        self.path = path  # tuple, e.g. ("lib", "store", "record")
        self.file = file
        self.is_dir_owner = is_dir_owner  # mod.rs / lib.rs / main.rs
        self.children = {}
        self.parent = None
        self.code = ""
        self.text = ""

    @property
    def name(self):
        return "::".join(self.path)


def child_dir(mod):
    d = os.path.dirname(mod.file)
    if mod.is_dir_owner:
        return d
    return os.path.join(d, os.path.splitext(os.path.basename(mod.file))[0])


def load_tree(root_file, crate_name, modules):
    stack = [Module((crate_name,), root_file, True)]
    root = stack[0]
    while stack:
        mod = stack.pop()
        with open(mod.file, encoding="utf-8") as f:
            mod.text = f.read()
        mod.code = strip_code(mod.text)
        modules[os.path.normpath(mod.file)] = mod
        inline = inline_mod_spans(mod.code)
        pat = re.compile(
            r'(?:#\[path\s*=\s*"([^"]*)"\]\s*)?(?:#\[[^\]]*\]\s*)*'
            r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;"
        )
        # path attributes were blanked with the strings: read them raw
        for m in pat.finditer(mod.code):
            if any(a < m.start() < b for a, b in inline):
                continue  # `mod x;` inside an inline module: not used here
            name = m.group(2)
            raw = mod.text[m.start() : m.end()]
            pm = re.search(r'#\[path\s*=\s*"([^"]*)"\]', raw)
            if pm:
                base = os.path.dirname(mod.file)
                f = os.path.normpath(os.path.join(base, pm.group(1)))
                owner = os.path.basename(f) == "mod.rs"
            else:
                d = child_dir(mod)
                f = os.path.join(d, name + ".rs")
                owner = False
                if not os.path.exists(f):
                    f, owner = os.path.join(d, name, "mod.rs"), True
            if not os.path.exists(f):
                print(f"warning: {mod.file}: mod {name}: no file", file=sys.stderr)
                continue
            child = Module(mod.path + (name,), f, owner)
            child.parent = mod
            mod.children[name] = child
            stack.append(child)
    return root


# ---------------------------------------------------------------- paths


def expand_use_tree(tree):
    """`a::{b, c::{d as e, self}}` -> [[a, b], [a, c, d], [a, c]]."""
    tree = re.sub(r"\s+as\s+" + IDENT, "", tree)
    tree = re.sub(r"\s+", "", tree)
    out = []

    def rec(prefix, s):
        s = s.strip()
        if not s:
            return
        i = s.find("{")
        if i < 0:
            segs = [x for x in s.split("::") if x]
            if segs and segs[-1] == "self":
                segs = segs[:-1]
            if segs and segs[-1] == "*":
                segs = segs[:-1]
            out.append(prefix + segs)
            return
        head = [x for x in s[:i].split("::") if x]
        body = s[i + 1 : s.rfind("}")]
        depth, start = 0, 0
        parts = []
        for j, ch in enumerate(body):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(body[start:j])
                start = j + 1
        parts.append(body[start:])
        for p in parts:
            rec(prefix + head, p)

    rec([], tree)
    return out


def inline_depth(spans, pos):
    return sum(1 for a, b in spans if a < pos < b)


def resolve(mod, segs, depth, roots):
    """Module file that a path written in `mod` names (or None)."""
    if not segs:
        return None
    first = segs[0]
    if first == "crate":
        cur, rest = roots[mod.path[0]], segs[1:]
    elif first == "imgdex":
        cur, rest = roots["lib"], segs[1:]
    elif first in ("super", "self"):
        cur, rest = mod, segs
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                if depth > 0:
                    depth -= 1
                elif cur.parent is not None:
                    cur = cur.parent
            rest = rest[1:]
    elif first in mod.children:
        cur, rest = mod, segs
    else:
        return None
    for s in rest:
        if s in cur.children:
            cur = cur.children[s]
        else:
            break
    return cur


def is_ancestor(a, b):
    return len(a.path) < len(b.path) and b.path[: len(a.path)] == a.path


def module_edges(mod, roots):
    code = mod.code
    spans = inline_mod_spans(code)
    targets = {}
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        for segs in expand_use_tree(m.group(1)):
            t = resolve(mod, segs, inline_depth(spans, m.start()), roots)
            if t is not None:
                targets.setdefault(t.name, (t, line_of(code, m.start())))
    path_re = re.compile(
        r"(?<![A-Za-z0-9_:])((?:crate|super|self|imgdex)(?:\s*::\s*" + IDENT + r")+)"
    )
    for m in path_re.finditer(code):
        segs = [s.strip() for s in m.group(1).split("::")]
        t = resolve(mod, segs, inline_depth(spans, m.start()), roots)
        if t is not None:
            targets.setdefault(t.name, (t, line_of(code, m.start())))
    edges = []
    for name, (t, line) in sorted(targets.items()):
        if t is mod or is_ancestor(mod, t):
            continue
        edges.append((t, line))
    return edges


# ---------------------------------------------------------------- graph


def sccs(nodes, adj):
    """Tarjan's strongly connected components (iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(adj.get(root, ())))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(adj.get(w, ()))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


# ---------------------------------------------------------------- functions


def long_functions(code):
    """(name, first line, line count) of every fn item with a body."""
    out = []
    for m in re.finditer(r"\bfn\s+(" + IDENT + r")", code):
        depth, j = 0, m.end()
        body = None
        while j < len(code):
            ch = code[j]
            if ch in "([<":
                depth += 1
            elif ch in ")]>":
                # `->` is not a closing angle bracket
                if not (ch == ">" and code[j - 1] == "-"):
                    depth -= 1
            elif ch == ";" and depth <= 0:
                break
            elif ch == "{" and depth <= 0:
                body = j
                break
            j += 1
        if body is None:
            continue
        end = match_brace(code, body)
        first, last = line_of(code, m.start()), line_of(code, end)
        out.append((m.group(1), first, last - first + 1))
    return out


# ---------------------------------------------------------------- main


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    verbose = "--verbose" in argv
    if "--root" in argv:
        root = argv[argv.index("--root") + 1]
    src = os.path.join(root, "src")
    modules = {}
    roots = {}
    for crate, f in (("lib", "lib.rs"), ("bin", "main.rs")):
        p = os.path.join(src, f)
        if os.path.exists(p):
            roots[crate] = load_tree(p, crate, modules)
    for d, _, files in os.walk(src):
        for f in files:
            p = os.path.normpath(os.path.join(d, f))
            if f.endswith(".rs") and p not in modules:
                print(f"warning: {os.path.relpath(p, root)}: not reached by any `mod`", file=sys.stderr)
                m = Module(("orphan", os.path.relpath(p, src)), p, False)
                with open(p, encoding="utf-8") as fh:
                    m.text = fh.read()
                m.code = strip_code(m.text)
                modules[p] = m

    violations = []
    by_name = {m.name: m for m in modules.values()}
    adj, n_edges, edge_line = {}, 0, {}
    for mod in modules.values():
        if mod.path[0] == "orphan":
            continue
        for t, line in module_edges(mod, roots):
            adj.setdefault(mod.name, []).append(t.name)
            edge_line[(mod.name, t.name)] = line
            n_edges += 1
    cycles = [c for c in sccs(sorted(by_name), adj) if len(c) > 1]
    for comp in cycles:
        members = set(comp)
        detail = []
        for a in sorted(comp):
            for b in adj.get(a, ()):
                if b in members:
                    rel = os.path.relpath(by_name[a].file, root)
                    detail.append(f"    {a} -> {b}  ({rel}:{edge_line[(a, b)]})")
        violations.append("cycle: " + ", ".join(sorted(comp)) + "\n" + "\n".join(detail))

    # the same rule one level up: a node is a top-level module with all of
    # its descendants (lib::store = store.rs + store/**)
    top = lambda name: "::".join(name.split("::")[:2])
    tadj = {}
    for a, bs in adj.items():
        for b in bs:
            ta, tb = top(a), top(b)
            if ta != tb and len(ta.split("::")) == 2 and len(tb.split("::")) == 2:
                tadj.setdefault(ta, set()).add(tb)
                edge_line.setdefault((ta, tb, "top"), (a, b))
    tnodes = sorted({top(n) for n in by_name if len(n.split("::")) >= 2})
    for comp in sccs(tnodes, {k: sorted(v) for k, v in tadj.items()}):
        if len(comp) < 2:
            continue
        members = set(comp)
        detail = []
        for a in sorted(comp):
            for b in sorted(tadj.get(a, ())):
                if b in members:
                    fa, fb = edge_line[(a, b, "top")]
                    detail.append(f"    {a} -> {b}  (e.g. {fa} -> {fb})")
        violations.append("cycle: top-level modules " + ", ".join(sorted(comp)) + "\n" + "\n".join(detail))

    for mod in sorted(modules.values(), key=lambda m: m.file):
        rel = os.path.relpath(mod.file, root)
        n = mod.text.count("\n") + (0 if mod.text.endswith("\n") or not mod.text else 1)
        if n > MAX_FILE_LINES:
            violations.append(f"file: {rel}: {n} lines (max {MAX_FILE_LINES})")
        if not mod.text.lstrip().startswith("//!"):
            violations.append(f"doc: {rel}: does not open with a //! paragraph")
        if mod.path[0] == "lib":
            for line, flag in flags_named(mod.text):
                violations.append(f"flag: {rel}:{line}: library text names the CLI flag {flag}")
        for name, line, count in long_functions(mod.code):
            if count > MAX_FN_LINES:
                violations.append(f"fn: {rel}:{line}: {name}: {count} lines (max {MAX_FN_LINES})")

    if verbose:
        for a in sorted(adj):
            for b in sorted(adj[a]):
                print(f"edge {a} -> {b}")
    for v in violations:
        print(v)
    kinds = {}
    for v in violations:
        k = v.split(":", 1)[0]
        kinds[k] = kinds.get(k, 0) + 1
    print(
        f"check_structure: {len(modules)} modules, {n_edges} edges, "
        f"{kinds.get('cycle', 0)} cycles, {kinds.get('file', 0)} files over {MAX_FILE_LINES} lines, "
        f"{kinds.get('fn', 0)} functions over {MAX_FN_LINES} lines, "
        f"{kinds.get('doc', 0)} files without //! doc, "
        f"{kinds.get('flag', 0)} CLI flags in library text"
    )
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
