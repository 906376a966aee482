//! The trainer's modules follow the data's path: no source file imports a
//! module that imports it back, directly or through others. Read from the
//! source text: every `crate::a::b` and `super::x` path names the file it
//! reaches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["cli", "eval"]`) of each source file.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            if parts == ["main"] {
                continue; // the binary is outside the library's graph
            }
            out.insert(parts, path);
        }
    }
    out
}

/// Identifiers after `prefix` in `text`, as module paths.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let rest = &text[i + prefix.len()..];
        let path: Vec<String> = rest
            .split("::")
            .map(|seg| {
                seg.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|seg| !seg.is_empty())
            .collect();
        out.push(path);
        // `use crate::a::{b, c::d}` names modules inside braces too.
        if let Some(open) = rest.find("::{") {
            let head = &rest[..open];
            if head
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
                let base: Vec<String> = head.split("::").map(str::to_owned).collect();
                for item in rest[open + 3..close].split(',') {
                    let mut p = base.clone();
                    p.extend(
                        item.trim()
                            .split("::")
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty() && s != "self"),
                    );
                    out.push(p);
                }
            }
        }
    }
    out
}

/// The longest prefix of `path` that is a module.
fn module_of(path: &[String], known: &BTreeMap<Vec<String>, PathBuf>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains_key(p))
}

#[test]
fn no_trainer_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &known {
        let text = std::fs::read_to_string(file).unwrap();
        let mut targets = BTreeSet::new();
        for p in paths_after(&text, "crate::") {
            if let Some(m) = module_of(&p, &known) {
                targets.insert(m);
            }
        }
        for p in paths_after(&text, "super::") {
            // `super` is the parent module (module paths already leave
            // `mod.rs` out).
            let mut full = module.clone();
            full.pop();
            full.extend(p);
            if let Some(m) = module_of(&full, &known) {
                targets.insert(m);
            }
        }
        targets.remove(module);
        edges.insert(module.clone(), targets);
    }
    // Depth-first search for a cycle.
    fn visit(
        m: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        match state.get(m) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|s| s == m).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(m.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for n in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(n, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in known.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(m, &edges, &mut state, &mut stack) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!("import circle: {}", names.join(" -> "));
        }
    }
    // The graph is not trivially empty: the pipeline reaches the stages.
    let pipeline = &edges[&vec!["pipeline".to_owned()]];
    for stage in ["quantize", "monitor_fit"] {
        assert!(pipeline.contains(&vec![stage.to_owned()]), "{pipeline:?}");
    }
}
