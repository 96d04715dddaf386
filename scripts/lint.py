#!/usr/bin/env python3
"""Runs clang-tidy (.clang-tidy at the root) over every translation unit of src/ and tests/.

Usage: lint.py [--build DIR] [-j N] [--no-cache] [FILE ...]

The translation units are those of DIR/compile_commands.json (cmake configures it; no build
needed), each file once (tests/integration/fixture.cpp is compiled into four binaries). A
clean result is remembered in DIR/lint-cache/ (or $LINT_CACHE) under a hash of everything it
depends on: clang-tidy's version, .clang-tidy, this script, the compile command, the file and
every project header it includes (transitively). So a run after a small change checks only
the files that change can reach; a run after a header everyone includes checks everything.
Paths in the key are relative to the checkout, so worktrees can share one $LINT_CACHE.
Findings are never cached: they print again until fixed.

Exit status 0 when every file is clean, 1 otherwise.
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
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("files", nargs="*", help="only these (paths as in compile_commands.json)")
    args = ap.parse_args()

    db_path = os.path.join(args.build, "compile_commands.json")
    if not os.path.isfile(db_path):
        print(f"lint: {db_path} is missing: configure first (cmake --preset default)")
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
        if not path.startswith(LINTED) or (only and path not in only) or path in seen:
            continue
        seen.add(path)
        h = common.copy()
        cmd = entry.get("command") or shlex.join(entry.get("arguments", []))
        h.update(cmd.replace(ROOT, "@ROOT@").encode())
        for dep in hasher.closure(path):
            h.update(os.path.relpath(dep, ROOT).encode() + b"\0" + hasher.read(dep).encode())
        key = h.hexdigest()
        if not args.no_cache and os.path.exists(os.path.join(cache, key)):
            cached += 1
            continue
        todo.append((path, key))

    start = time.monotonic()
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        futures = {pool.submit(run_one, args.build, p): key for p, key in todo}
        for fut in concurrent.futures.as_completed(futures):
            path, rc, out, secs = fut.result()
            rel = os.path.relpath(path, ROOT)
            if rc == 0 and "warning:" not in out and "error:" not in out:
                open(os.path.join(cache, futures[fut]), "w").close()
                print(f"lint: {rel}: ok ({secs:.1f} s)", flush=True)
            else:
                failed.append(rel)
                print(f"lint: {rel}: FAILED ({secs:.1f} s)\n{out}\n", flush=True)
    print(f"lint: {len(todo)} checked, {cached} unchanged since a clean run, {len(failed)} "
          f"with findings; {time.monotonic() - start:.0f} s")
    if failed:
        print("lint: fix them, or add NOLINT(check) with the reason beside it; failing: " +
              " ".join(sorted(failed)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
