#!/usr/bin/env python3
"""Prints the packages a workspace compiles only to build itself (proc macros, build scripts and
what only they use), for the `opt-level = 0` list in Cargo.toml's [profile.dev.package].

A package is build-only when no workspace crate reaches it by normal or dev-dependency edges
without passing through a proc macro. Usage (from the workspace root, or crates/py):
    cargo metadata --format-version 1 --all-features | python3 scripts/build_only_crates.py
Packages whose name also appears on the run-time side are left out (a profile override is by
name, so it would reach both).
"""
import json
import sys


def main():
    meta = json.load(sys.stdin)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])

    def proc_macro(pid):
        return any("proc-macro" in t["kind"] for t in packages[pid]["targets"])

    runtime, stack = set(), list(members)
    while stack:
        pid = stack.pop()
        if pid in runtime:
            continue
        runtime.add(pid)
        for dep in nodes[pid]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            follows = None in kinds or (pid in members and "dev" in kinds)
            if follows and not proc_macro(dep["pkg"]):
                stack.append(dep["pkg"])
    runtime_names = {packages[p]["name"] for p in runtime}
    build_only = {packages[p]["name"] for p in nodes if p not in runtime} - runtime_names
    for name in sorted(build_only):
        print(name)


if __name__ == "__main__":
    main()
