#!/usr/bin/env python3
"""Checks two rules of ARCHITECTURE.md on every crate's sources:

1. no module imports a module that imports it back (a parent and its own
   child modules excepted: `mod.rs` declaring a child, the child using
   `super::` items);
2. no code file is longer than 700 lines unless its doc comment says why
   (a line starting `//! Why this file is longer`).

Paths are read from `use`/expression paths starting `crate::` or `super::`;
comments are ignored. Exit 1 naming every offence, 0 otherwise.
"""
import os
import re
import sys

CRATES = ["agent/src", "collector/src", "collector-core/src", "policies/src", "tests/src"]
LIMIT = 700
PATH = re.compile(r"\b(crate|super(?:::super)*)::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)")


def modules(root):
    mods = {}
    for dp, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, root)[:-3].split("/")
            if rel[0] == "bin":
                continue
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            mods[tuple(rel)] = p
    return mods


def code(text):
    text = re.split(r"#\[cfg\(test\)\]\s*(?:pub\(crate\) )?mod tests\s*\{", text)[0]
    return "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("//"))


def main():
    bad = []
    for root in CRATES:
        mods = modules(root)

        def resolve(path):
            for i in range(len(path), -1, -1):
                if tuple(path[:i]) in mods:
                    return tuple(path[:i])
            return ()

        edges = set()
        for m, p in mods.items():
            text = open(p, encoding="utf-8").read()
            if not m or m[-1] != "tests":
                n = text.count("\n")
                if n > LIMIT and "//! Why this file is longer" not in text:
                    bad.append(f"{p}: {n} lines and no `//! Why this file is longer …` line")
            for mm in PATH.finditer(code(text)):
                head, rest = mm.group(1), mm.group(2).split("::")
                base = [] if head == "crate" else list(m[: len(m) - head.count("super")])
                target = resolve(base + rest)
                if target != m:
                    edges.add((m, target))
        for a, b in sorted(edges):
            if (b, a) in edges and a < b and a != b[: len(a)] and b != a[: len(b)]:
                name = lambda x: "::".join(x) or "<crate root>"
                bad.append(f"{root}: {name(a)} and {name(b)} import each other")
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
