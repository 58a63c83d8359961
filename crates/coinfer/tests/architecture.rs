//! The README's crate map is true: every workspace crate has a row, and its "depends on"
//! column lists exactly the workspace crates its Cargo.toml depends on (normal dependencies,
//! read with `cargo metadata`). And the design's layering rules hold.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{BTreeMap, BTreeSet};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Workspace crate → the workspace crates it depends on (normal dependencies), short names
/// (`coinfer-graph` → `graph`; the binary is `coinfer`).
/// The main workspace and the Python extension's (`crates/py`, a workspace of its own).
fn actual() -> BTreeMap<String, BTreeSet<String>> {
    let mut map = BTreeMap::new();
    for manifest in ["Cargo.toml", "crates/py/Cargo.toml"] {
        workspace_crates(manifest, &mut map);
    }
    map
}

fn workspace_crates(manifest: &str, map: &mut BTreeMap<String, BTreeSet<String>>) {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(root().join(manifest))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let short = |n: &str| n.strip_prefix("coinfer-").unwrap_or(n).to_string();
    for p in v["packages"].as_array().unwrap() {
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null() && d["name"].as_str().unwrap().starts_with("coinfer-"))
            .map(|d| short(d["name"].as_str().unwrap()))
            .collect();
        map.insert(short(p["name"].as_str().unwrap()), deps);
    }
}

/// The README's architecture table, same shape.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut map = BTreeMap::new();
    let rows = readme.lines().filter(|l| l.starts_with("| `coinfer") && l.contains("(`crates/"));
    for line in rows {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].split('`').nth(1).unwrap();
        let name = name.strip_prefix("coinfer-").unwrap_or(name).to_string();
        let deps = cells[cells.len() - 2];
        let deps = if deps == "—" || deps == "all" {
            BTreeSet::new()
        } else {
            deps.split(',').map(|d| d.trim().to_string()).collect()
        };
        map.insert(name, deps);
    }
    map
}

#[test]
fn the_readme_crate_map_matches_the_cargo_manifests() {
    let (actual, documented) = (actual(), documented());
    let names: BTreeSet<_> = actual.keys().collect();
    assert_eq!(names, documented.keys().collect(), "crates in the README's map");
    let wrong: Vec<String> = actual
        .iter()
        .filter(|(name, deps)| *name != "coinfer" && documented[*name] != **deps) // binary: "all"
        .map(|(name, deps)| {
            format!("`{name}`: README says {:?}, Cargo.toml {deps:?}", documented[name])
        })
        .collect();
    assert!(wrong.is_empty(), "the README's \"depends on\" column is wrong:\n{}", wrong.join("\n"));
}

#[test]
fn the_layering_rules_hold() {
    let actual = actual();
    let deps = |c: &str| actual.get(c).cloned().unwrap_or_default();
    // Policies decide by formula: no engines, no sockets, no workflows.
    for forbidden in ["engine", "runtime", "pipeline", "train"] {
        assert!(!deps("policy").contains(forbidden), "policy depends on {forbidden}");
    }
    // Agents learn in the simulator: no engines, no sockets, no workflows.
    for forbidden in ["engine", "runtime", "pipeline", "train"] {
        assert!(!deps("agents").contains(forbidden), "agents depends on {forbidden}");
    }
    // The report only presents: no engines run, no sockets, no decisions.
    for forbidden in ["runtime", "policy", "agents", "train"] {
        assert!(!deps("report").contains(forbidden), "report depends on {forbidden}");
    }
    // The runtime executes plans and never decides.
    for decider in ["policy", "agents"] {
        assert!(!deps("runtime").contains(decider), "runtime depends on {decider}");
    }
    // The Python bindings wrap the simulator, policies, agents and workflows, never the
    // runtime's internals.
    assert!(actual.contains_key("py"), "the Python extension is read too");
    assert!(!deps("py").contains("runtime"), "py depends on the runtime");
    // Nothing depends on the binary or the workflows below them (the report reads the
    // workflows' result types).
    for (name, d) in &actual {
        assert!(!d.contains("coinfer"), "{name} depends on the binary");
        if !["coinfer", "py", "report"].contains(&name.as_str()) {
            assert!(!d.contains("pipeline"), "{name} depends on the pipeline");
        }
    }
}
