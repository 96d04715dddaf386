#!/usr/bin/env python3
"""Checks that every part of src/ uses only what its README says it may depend on.

Each folder src/<part>/ is a part. Its README.md holds one "May depend on:" line (it may wrap;
it ends at the first full stop followed by a space or a line end), a comma-separated list of:

  - portier parts, by folder name ("core", "client"): any header of that part;
  - single headers of a part ("sync/feed_change.hpp"): that header only;
  - third-party libraries, by the names in LIBRARIES below ("Boost (Asio, JSON)", "SQLite").

Part names are written as their folder, in lower case ("sqlite" is the part, "SQLite" the
library). Text in parentheses is a note and does not count, except after "Boost".

An optional "Tests may also depend on:" line adds to that list for the part's *_test.cpp
files, which may also always include GoogleTest and tests/support ("support/...").

What is checked:
  - every #include "x/..." of every file of the part (subfolders too) names the part itself,
    an allowed part or an allowed header;
  - every #include <...> of a library in LIBRARIES names a library on the line;
  - every portier_<part> library named in the part's CMakeLists.txt is the part itself or
    an allowed part (link-time truth, not only include-time);
  - the parts' allowed dependencies have no cycle.

Usage: check_layers.py [SRC_DIR]   (default: the src/ beside this script's folder)
Exit status 0 when all holds, 1 with one line per problem otherwise.
"""

import os
import re
import sys

# Library names a README line may use (lower case) -> include prefixes they stand for.
# Headers that match none (the standard library, POSIX, other Boost) are not checked.
LIBRARIES = {
    "asio": ("boost/asio",),
    "beast": ("boost/beast/",),
    "json": ("boost/json",),
    "url": ("boost/url",),
    "openssl": ("openssl/",),
    "libsodium": ("sodium.h", "sodium/"),
    "sqlite": ("sqlite3.h",),
    "libgpiod": ("gpiod.h",),
    "spdlog": ("spdlog/",),
    "fmt": ("fmt/",),
    "cli11": ("CLI/",),
    "date": ("date/",),
}
TEST_ALWAYS = ("gtest/", "gmock/")
TEST_SUPPORT_ROOT = "support"  # tests/support, for tests beside the code

SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
PART_HEADER_RE = re.compile(r"\b([a-z][a-z0-9_]*)/([A-Za-z0-9_./]+\.(?:hpp|h))")
WORD_RE = re.compile(r"[A-Za-z0-9_+]+")
CMAKE_CALL_RE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)", re.S)
CMAKE_LIB_RE = re.compile(r"\bportier_([a-z_]+)\b")


class Rules:
    def __init__(self):
        self.parts = set()  # whole parts allowed
        self.headers = set()  # "part/file.hpp" allowed alone
        self.libraries = set()  # keys of LIBRARIES

    def merged(self, other):
        r = Rules()
        r.parts = self.parts | other.parts
        r.headers = self.headers | other.headers
        r.libraries = self.libraries | other.libraries
        return r


def read_line(readme_text, label):
    """The text of the line starting with label, up to its first sentence end; None if absent."""
    m = re.search(r"^" + re.escape(label) + r"(.*?)(?:\.(?=\s)|\.?\Z)",
                  readme_text, re.M | re.S | re.I)
    if not m:
        return None
    return " ".join(m.group(1).split())


def parse_rules(text, parts):
    rules = Rules()
    # Parentheses are notes ("crypto (event ids)"), except after Boost, where they name the
    # libraries ("Boost (Asio, JSON)").
    text = re.sub(r"(?<!Boost)(?<!Boost )\([^)]*\)", " ", text)
    for m in PART_HEADER_RE.finditer(text):
        if m.group(1) in parts:
            rules.headers.add(m.group(1) + "/" + m.group(2))
    rest = PART_HEADER_RE.sub(" ", text)
    for w in WORD_RE.findall(rest):
        lw = w.lower()
        if w in parts:
            rules.parts.add(w)
        elif lw in LIBRARIES:
            rules.libraries.add(lw)
    return rules


def part_files(src, part):
    root = os.path.join(src, part)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(SOURCE_SUFFIXES):
                yield os.path.join(dirpath, f)


def is_test_file(path):
    return os.path.basename(path).endswith(("_test.cpp", "_test.cc"))


def library_of(header):
    for name, prefixes in LIBRARIES.items():
        if any(header.startswith(p) for p in prefixes):
            return name
    return None


def find_cycle(graph):
    """One cycle of the part graph as a list of parts, or None."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def check(src):
    """Every problem found under src, one line each."""
    problems = []
    parts = sorted(d for d in os.listdir(src)
                   if os.path.isdir(os.path.join(src, d)) and not d.startswith("."))
    part_set = set(parts)
    rules = {}
    test_rules = {}
    for part in parts:
        readme = os.path.join(src, part, "README.md")
        rel = os.path.relpath(readme, os.path.dirname(src))
        if not os.path.isfile(readme):
            problems.append(f"{rel}: missing (every part says what it may depend on)")
            continue
        with open(readme, encoding="utf-8") as f:
            text = f.read()
        line = read_line(text, "May depend on:")
        if line is None:
            problems.append(f"{rel}: no 'May depend on:' line")
            continue
        # Words that name neither a part nor a library (notes in parentheses) do not count.
        r = parse_rules(line, part_set)
        r.parts.discard(part)
        rules[part] = r
        extra = read_line(text, "Tests may also depend on:")
        test_rules[part] = r.merged(parse_rules(extra, part_set)) if extra else r

    # The declared graph: a part that may use one header of another depends on that part.
    graph = {p: set(r.parts) | {h.split("/")[0] for h in r.headers} for p, r in rules.items()}
    cycle = find_cycle(graph)
    if cycle:
        problems.append("the parts' 'May depend on' lines form a cycle: " + " -> ".join(cycle))

    for part in parts:
        if part not in rules:
            continue
        for path in part_files(src, part):
            rel = os.path.relpath(path, os.path.dirname(src))
            test = is_test_file(path)
            r = test_rules[part] if test else rules[part]
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, text in enumerate(f, 1):
                    m = INCLUDE_RE.match(text)
                    if not m:
                        continue
                    quoted, header = m.group(1) == '"', m.group(2)
                    if quoted:
                        root = header.split("/")[0] if "/" in header else None
                        if root == part or header in r.headers or root in r.parts:
                            continue
                        if test and root == TEST_SUPPORT_ROOT:
                            continue
                        if root is None or root not in part_set:
                            problems.append(f"{rel}:{lineno}: #include \"{header}\" is not "
                                            "rooted at src/ (\"part/file.hpp\")")
                        else:
                            problems.append(f"{rel}:{lineno}: #include \"{header}\": {part} may "
                                            f"not depend on {root} (src/{part}/README.md)")
                    else:
                        if test and header.startswith(TEST_ALWAYS):
                            continue
                        lib = library_of(header)
                        if lib and lib not in r.libraries:
                            problems.append(f"{rel}:{lineno}: #include <{header}>: {part} may "
                                            f"not depend on {lib} (src/{part}/README.md)")

        cmake = os.path.join(src, part, "CMakeLists.txt")
        if os.path.isfile(cmake):
            rel = os.path.relpath(cmake, os.path.dirname(src))
            seen = set()
            with open(cmake, encoding="utf-8") as f:
                body = "\n".join(line.split("#", 1)[0] for line in f.read().splitlines())
            for call in CMAKE_CALL_RE.finditer(body):
                test = call.group(1) == "portier_test"
                r = test_rules[part] if test else rules[part]
                for lib in CMAKE_LIB_RE.findall(call.group(2)):
                    if lib not in part_set or lib == part or lib in r.parts:
                        continue
                    if (rel, lib) in seen:
                        continue
                    seen.add((rel, lib))
                    problems.append(f"{rel}: links portier_{lib}: {part} may not depend on "
                                    f"{lib} (src/{part}/README.md)")
    return problems


def main(argv):
    src = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    problems = check(src)
    parts = [d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d))]
    for p in problems:
        print(p)
    if problems:
        print(f"layers: {len(problems)} problem(s); fix the include or the README's "
              "'May depend on' line (docs/layers.md)")
        return 1
    print(f"layers: ok ({len(parts)} parts)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
