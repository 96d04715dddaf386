#!/usr/bin/env python3
"""Runs clang-tidy (.clang-tidy at the root) over every source file of src/ and tests/.

Usage: lint.py [--build DIR] [-j N] [--no-cache] [FILE ...]

The translation units are those of DIR/compile_commands.json (cmake configures it; no build
needed). DIR is build-debug, a unity build: each of its translation units is a file CMake
generated that includes up to eight sources of one target, so clang-tidy parses the Boost
headers and checks their templates once per eight sources (lint took 475 s here one file at a
time, ~200 s this way). Findings in the included sources print as usual: .clang-tidy's
HeaderFilterRegex takes in every file of src/ and tests/. A source file outside any unity file
is checked alone. A clean result is remembered in DIR/lint-cache/ (or $LINT_CACHE) under a
hash of everything it depends on: clang-tidy's version, .clang-tidy, this script, the compile
command, the sources and every project header they include (transitively). So a run after a
small change checks only the units that change can reach; a run after a header everyone
includes checks everything. Paths in the key are relative to the checkout, so worktrees can
share one $LINT_CACHE. Findings are never cached: they print again until fixed. FILE names
sources; the units holding them are checked.

Exit status 0 when every unit is clean, 1 otherwise.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLANG_TIDY = os.environ.get("CLANG_TIDY", "clang-tidy-14")
INCLUDE_RE = re.compile(rb'^\s*#\s*include\s*"([^"]+)"', re.M)
# A unity file of CMake's (CMAKE_UNITY_BUILD): <target>.dir/Unity/unity_<n>_cxx.cxx.
UNITY_RE = re.compile(r"/([^/]+)\.dir/Unity/unity_\d+_cxx\.cxx$")
# Where quoted includes are looked for: rooted at src/ or tests/, or beside the file.
INCLUDE_ROOTS = (os.path.join(ROOT, "src"), os.path.join(ROOT, "tests"))
LINTED = (os.path.join(ROOT, "src") + os.sep, os.path.join(ROOT, "tests") + os.sep)


class Hasher:
    """Content hashes of project files and of what they include, each read once."""

    def __init__(self):
        self.content = {}
        self.includes = {}

    def read(self, path):
        if path not in self.content:
            with open(path, "rb") as f:
                data = f.read()
            self.content[path] = hashlib.sha256(data).hexdigest()
            found = []
            for inc in INCLUDE_RE.findall(data):
                inc = inc.decode()
                for base in (os.path.dirname(path),) + INCLUDE_ROOTS:
                    cand = os.path.normpath(os.path.join(base, inc))
                    if os.path.isfile(cand):
                        found.append(cand)
                        break
            self.includes[path] = found
        return self.content[path]

    def closure(self, path):
        seen, todo = set(), [path]
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            self.read(p)
            todo.extend(self.includes[p])
        return sorted(seen)


def tidy_version():
    out = subprocess.run([CLANG_TIDY, "--version"], capture_output=True, text=True, check=True)
    return out.stdout


def run_one(build, path):
    start = time.monotonic()
    proc = subprocess.run([CLANG_TIDY, "-p", build, "--quiet", path],
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    # clang-tidy prints "N warnings generated." for the suppressed ones in system headers.
    out = "\n".join(line for line in out.splitlines()
                    if not re.match(r"^\d+ warnings? (and \d+ errors? )?generated\.$", line))
    return path, proc.returncode, out.strip(), time.monotonic() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-debug"))
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("files", nargs="*", help="only the units holding these source files")
    args = ap.parse_args()

    db_path = os.path.join(args.build, "compile_commands.json")
    if not os.path.isfile(db_path):
        print(f"lint: {db_path} is missing: configure first (cmake --preset debug)")
        return 1
    with open(db_path) as f:
        db = json.load(f)
    only = {os.path.abspath(p) for p in args.files}

    common = hashlib.sha256()
    common.update(tidy_version().encode())
    for p in (os.path.join(ROOT, ".clang-tidy"), os.path.abspath(__file__)):
        with open(p, "rb") as f:
            common.update(f.read())

    cache = os.environ.get("LINT_CACHE") or os.path.join(args.build, "lint-cache")
    os.makedirs(cache, exist_ok=True)
    hasher = Hasher()
    todo, cached, seen = [], 0, set()
    for entry in db:
        path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
        unity = UNITY_RE.search(path)
        if unity:
            hasher.read(path)
            sources = [p for p in hasher.includes[path] if p.startswith(LINTED)]
            label = unity.group(1)
        else:
            sources = [path] if path.startswith(LINTED) else []
            label = ""
        sources = [p for p in sources if p not in seen]
        if not sources or (only and not only.intersection(sources)):
            continue
        seen.update(sources)
        h = common.copy()
        cmd = entry.get("command") or shlex.join(entry.get("arguments", []))
        h.update(cmd.replace(ROOT, "@ROOT@").encode())
        for dep in hasher.closure(path):
            digest = hasher.read(dep)
            if dep == path and unity:  # it names the sources by absolute path
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read().replace(ROOT.encode(), b"@ROOT@")).hexdigest()
            h.update(os.path.relpath(dep, ROOT).encode() + b"\0" + digest.encode())
        key = h.hexdigest()
        if not args.no_cache and os.path.exists(os.path.join(cache, key)):
            cached += 1
            continue
        names = " ".join(os.path.relpath(p, ROOT) for p in sources)
        todo.append((path, key, f"{label} ({names})" if label else names))

    start = time.monotonic()
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        futures = {pool.submit(run_one, args.build, p): (key, name) for p, key, name in todo}
        for fut in concurrent.futures.as_completed(futures):
            path, rc, out, secs = fut.result()
            key, name = futures[fut]
            if rc == 0 and "warning:" not in out and "error:" not in out:
                open(os.path.join(cache, key), "w").close()
                print(f"lint: {name}: ok ({secs:.1f} s)", flush=True)
            else:
                failed.append(name)
                print(f"lint: {name}: FAILED ({secs:.1f} s)\n{out}\n", flush=True)
    print(f"lint: {len(todo)} units checked, {cached} unchanged since a clean run, {len(failed)} "
          f"with findings; {time.monotonic() - start:.0f} s")
    if failed:
        print("lint: fix them, or add NOLINT(check) with the reason beside it; failing: " +
              "; ".join(sorted(failed)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
