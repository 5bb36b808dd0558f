//! The control plane's layering, read from its sources' `crate::` paths (comments aside):
//! its top-level modules form no cycle (before, `http` → `api` → `http`, `state` → `api`,
//! `push` → `api` and `state` ↔ `push` tied 30 files into one), and the layers below the
//! HTTP edge never reach up into it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo_root;

/// Top-level module → the top-level modules its files name.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("below src");
            let first = rel.components().next().expect("a component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            if matches!(module.as_str(), "lib" | "main") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            let deps = graph.entry(module.clone()).or_default();
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or_default();
                for part in code.split("crate::").skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// A cycle through `graph`, if any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        path.push(n.to_owned());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|p| p == m).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, graph, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n.as_str())
            && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_control_planes_modules_form_no_cycle() {
    let graph = module_graph(&repo_root().join("control-plane/src"));
    assert!(
        graph.contains_key("api") && graph.contains_key("model"),
        "{graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
    // Below the HTTP edge nothing names it.
    for low in [
        "model", "store", "push", "token", "spec", "crypto", "hashing", "delivery", "upstream",
    ] {
        let deps = graph.get(low).cloned().unwrap_or_default();
        for high in ["api", "http", "app", "error", "cli"] {
            assert!(!deps.contains(high), "{low} names {high}: {deps:?}");
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

/// `(file, line)` of every line of the Rust sources under `dir` whose code (comments aside)
/// `hit` picks.
fn code_lines(dir: &Path, hit: impl Fn(&str) -> bool) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            for (n, line) in text.lines().enumerate() {
                if hit(line.split("//").next().unwrap_or_default()) {
                    found.push((path.display().to_string(), n + 1));
                }
            }
        }
    }
    found
}

/// `(file, line)` of every string literal in `dir`'s sources that names a built-in `fe.*`
/// permission key.
fn permission_literals(dir: &Path) -> Vec<(String, usize)> {
    code_lines(dir, |code| {
        code.match_indices("\"fe.").any(|(i, m)| {
            code[i + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
        })
    })
}

#[test]
fn handlers_name_permissions_only_through_perm() {
    // One authorization idiom: `caller.require(Perm::…)`, environment-only routes included
    // (`Perm::Environment`); a key spelled as a string in a handler is a second way.
    let src = repo_root().join("control-plane/src");
    for dir in ["api", "http"] {
        let found = permission_literals(&src.join(dir));
        assert!(
            found.is_empty(),
            "permission keys spelled in {dir}/: {found:?}"
        );
    }
    // The finder finds them: the catalogue that defines `Perm` spells every key.
    assert!(!permission_literals(&src.join("model")).is_empty());
    let sources = std::fs::read_dir(src.join("http"))
        .expect("http/")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        !sources.contains("struct EnvCaller"),
        "a second caller extractor"
    );
}

/// The modules a source line names, as absolute paths (`crate::a::b`, `super::c` resolved
/// against `module`), comments aside; globs (`super::*`) are skipped.
fn named_paths(module: &[String], line: &str) -> Vec<Vec<String>> {
    let code = line.split("//").next().unwrap_or_default();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        let first = ident(rest);
        let second = rest
            .strip_prefix(&format!("{first}::"))
            .map(ident)
            .unwrap_or_default();
        out.push(
            [first, second]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect(),
        );
    }
    let mut at = 0;
    while let Some(i) = code[at..].find("super::") {
        let start = at + i;
        if code[..start].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            at = start + 7;
            continue;
        }
        let mut rest = &code[start..];
        let mut base = module.to_vec();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let name = ident(rest);
        if !name.is_empty() {
            base.push(name);
            out.push(base);
        }
        at = start + 7;
    }
    out
}

#[test]
fn api_areas_are_directories_that_import_only_the_layers_below() {
    let api = repo_root().join("control-plane/src/api");
    // `upstream`: the calls to other identity systems a sign-in makes while it is answered.
    let allowed = ["http", "model", "token", "error", "spec", "upstream"];
    let mut violations = Vec::new();
    for entry in std::fs::read_dir(&api).expect("api/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !path.is_dir() {
            if name != "mod.rs" {
                violations.push(format!("api/{name}: an area is a directory"));
            }
            continue;
        }
        // The area's mod.rs only merges its files' ops(): each file registers the
        // operations it implements, so adding one touches that file alone.
        let root = std::fs::read_to_string(path.join("mod.rs")).unwrap_or_default();
        if !root.contains("fn ops()") || root.contains("async fn") {
            violations.push(format!("api/{name}/mod.rs: holds ops() and only ops()"));
        }
        for call in [".add(", ".add_extra(", ".add_root("] {
            if root.contains(call) {
                violations.push(format!(
                    "api/{name}/mod.rs: registers {call}..) itself; the file with the handler does"
                ));
            }
        }
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("readable") {
                let file = e.expect("entry").path();
                if file.is_dir() {
                    stack.push(file);
                    continue;
                }
                let rel = file.strip_prefix(&api).expect("below api").to_owned();
                if rel.file_name().is_some_and(|f| f == "more.rs") {
                    violations.push(format!("api/{}: no file named more.rs", rel.display()));
                }
                let mut module: Vec<String> = vec!["api".into()];
                module.extend(rel.components().map(|c| {
                    c.as_os_str()
                        .to_string_lossy()
                        .trim_end_matches(".rs")
                        .to_owned()
                }));
                if module.last().is_some_and(|m| m == "mod") {
                    module.pop();
                }
                let text = std::fs::read_to_string(&file).expect("source");
                for (n, line) in text.lines().enumerate() {
                    for p in named_paths(&module, line) {
                        let ok = match p.first().map(String::as_str) {
                            Some(first) if allowed.contains(&first) => true,
                            // Its own area, and the registration type.
                            Some("api") => p.get(1).is_some_and(|a| *a == name || a == "Ops"),
                            _ => false,
                        };
                        if !ok {
                            violations.push(format!(
                                "api/{}:{}: names {}",
                                rel.display(),
                                n + 1,
                                p.join("::")
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

#[test]
fn the_path_reader_resolves_super_and_crate() {
    let m: Vec<String> = ["api", "users", "manage"].map(String::from).to_vec();
    assert_eq!(
        named_paths(
            &m,
            "use super::dto::{A, B}; use crate::api::roles::x; // crate::store"
        ),
        vec![
            vec!["api".to_owned(), "roles".to_owned()],
            vec!["api".to_owned(), "users".to_owned(), "dto".to_owned()],
        ]
    );
    assert_eq!(
        named_paths(&m, "super::super::auth::f()"),
        vec![vec!["api".to_owned(), "auth".to_owned()]]
    );
    assert!(named_paths(&m, "use super::*;").is_empty());
}

#[test]
fn the_domain_names_no_transport_no_backend_and_no_runtime() {
    // `model/` is the domain: no HTTP (axum), no storage engine (sled), no async runtime
    // (tokio) outside its tests — what a PostgreSQL backend or another transport needs.
    let model = repo_root().join("control-plane/src/model");
    let mut found = Vec::new();
    let mut stack = vec![model.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("readable") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                let line = line.split("//").next().unwrap_or_default();
                for word in ["axum", "sled", "tokio", "crate::http", "crate::api"] {
                    if line.contains(word) {
                        found.push(format!("{}:{}: {word}", path.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// `(file, line)` of every call in `dir`'s Rust sources that parses JSON from bytes without
/// going through `shared::json` (comments aside).
fn raw_json_parsers(dir: &Path) -> Vec<(String, usize)> {
    code_lines(dir, |code| {
        [
            "serde_json::from_slice",
            "Deserializer::from_slice",
            "serde_json::from_reader",
        ]
        .iter()
        .any(|p| code.contains(p))
    })
}

#[test]
fn received_json_is_parsed_only_through_shared_json() {
    // serde_json's byte parsers skip UTF-8 checks in ignored values; shared::json checks the
    // whole text first. Only the store decodes its own records from bytes.
    let root = repo_root();
    let mut found = Vec::new();
    for dir in ["control-plane/src", "sidecar/src", "shared/src"] {
        found.extend(raw_json_parsers(&root.join(dir)));
    }
    found.retain(|(file, _)| {
        !file.ends_with("control-plane/src/store/codec.rs") && !file.ends_with("shared/src/json.rs")
    });
    assert!(
        found.is_empty(),
        "JSON parsed from bytes directly: {found:?}"
    );
    // The finder finds them: the store's codec and the module's own premise test do.
    assert!(!raw_json_parsers(&root.join("control-plane/src/store")).is_empty());
}
