//! The key table against what it stands for: the documentation, the file's tables, and the
//! variables the environment reads.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::keys::{ACCOUNT_KEYS, KEYS, legacy_env, undocumented};
use super::*;

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md"));

#[test]
fn a_key_or_variable_missing_from_the_documentation_is_named() {
    assert!(undocumented(DOC).is_empty(), "{:?}", undocumented(DOC));
    for missing in [
        "watch.max_host_cost",
        "HEALTH_PORT",
        "mattermost.accounts.<id>.mode",
    ] {
        let doc = DOC.replace(&format!("`{missing}`"), "");
        assert_eq!(undocumented(&doc), [missing], "{missing}");
    }
}

#[test]
fn the_environment_reads_the_tables_variables_and_no_other() {
    let asked = RefCell::new(BTreeSet::new());
    let lookup = |var: &str| {
        asked.borrow_mut().insert(var.to_owned());
        None
    };
    let dir = tempfile::tempdir().expect("tempdir");
    load_at(&dir.path().join("absent.toml"), false, &lookup).expect("defaults load");
    let table: BTreeSet<String> = legacy_env().map(|(var, _)| var.to_owned()).collect();
    assert_eq!(asked.into_inner(), table);
}

#[test]
fn every_variable_sets_a_key_of_the_table() {
    let names: Vec<&str> = KEYS.iter().map(|key| key.name).collect();
    for (var, key) in legacy_env() {
        assert!(names.contains(&key), "{var} sets {key}");
    }
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "a key is listed twice");
}

/// The valid keys the file's error lists for an unknown key in `table`.
fn file_keys(table: &str) -> BTreeSet<String> {
    let text = format!("[{table}]\nnot_a_key = 1\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    let e = load_text(&path, &text, false, &|_: &str| None).expect_err("unknown key");
    let shown = e.to_string();
    // serde lists two keys as "expected `a` or `b`", more as "expected one of `a`, `b`, `c`".
    let (_, list) = shown.split_once(", expected ").expect("a list of keys");
    let list = list.trim_start_matches("one of ").replace(" or ", ",");
    list.split(',')
        .map(|k| k.trim().trim_matches('`').to_owned())
        .collect()
}

#[test]
fn the_table_names_exactly_the_keys_the_file_accepts() {
    let tables: BTreeSet<&str> = KEYS.iter().map(|key| key.split().0).collect();
    for table in tables {
        let mut listed: BTreeSet<String> = KEYS
            .iter()
            .filter(|key| key.split().0 == table)
            .map(|key| key.split().1.to_owned())
            .collect();
        if table == "mattermost" {
            listed.insert("accounts".to_owned());
        }
        assert_eq!(file_keys(table), listed, "[{table}]");
    }
    let accounts: BTreeSet<String> = ACCOUNT_KEYS.iter().map(|k| k.name.to_owned()).collect();
    assert_eq!(file_keys("mattermost.accounts.ops"), accounts);
}
