//! A crate that depends on ferrokafka gets the capped decoder too. A `[patch]` section in our
//! Cargo.toml would not reach it (cargo reads patches from the top-level workspace only), so
//! this builds a real downstream crate in a temporary directory, depending on ferrokafka by
//! path, and feeds it the `response` fuzz target's crash input.
//!
//! Offline: the crate takes ferrokafka's Cargo.lock, so every dependency resolves to a version
//! that ferrokafka's own build already put in the local registry cache. Its target directory
//! lives under `CARGO_TARGET_TMPDIR`, so only the first run compiles everything.

use std::path::Path;
use std::process::{Command, Output};

/// The `response` fuzz target's input that aborted the process with the upstream codec:
/// selector 7 (OffsetFetch), version byte 0 (v1), then the frame: correlation id 2 and a topics
/// array count of 0x7124586c with no entries behind it. Upstream reserved that many entries
/// (tens of GB) before reading the first.
const FUZZ_FINDING: [u8; 10] = [7, 0, 0, 0, 0, 2, 0x71, 0x24, 0x58, 0x6c];

/// What the downstream binary prints when the decoder rejects the frame.
const REJECTED: &str = "rejected: ";

fn downstream_main() -> String {
    format!(
        r#"fn main() {{
    let input: [u8; 10] = {FUZZ_FINDING:?};
    match ferrokafka::fuzzing::response(input[0], input[1], &input[2..]) {{
        Ok(()) => {{
            println!("accepted");
            std::process::exit(3);
        }}
        Err(e) => println!("{REJECTED}{{e}}"),
    }}
}}
"#
    )
}

fn downstream_manifest(ferrokafka: &Path) -> String {
    let path = ferrokafka.to_str().expect("a UTF-8 path");
    assert!(
        !path.contains('\''),
        "a TOML literal string cannot hold {path}"
    );
    // No default features: the C builds (zstd, ring) add minutes and nothing to this check.
    format!(
        r#"[package]
name = "ferrokafka-downstream-check"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
ferrokafka = {{ path = '{path}', default-features = false, features = ["fuzzing"] }}

[profile.dev]
debug = false

# Not a member of ferrokafka's workspace, although it lives under ferrokafka's target/.
[workspace]
"#
    )
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_path_dependent_gets_an_error_not_an_abort_for_the_fuzz_finding() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("downstream-crate");
    std::fs::create_dir_all(dir.join("src")).expect("create the downstream crate");
    std::fs::write(dir.join("Cargo.toml"), downstream_manifest(root)).expect("write Cargo.toml");
    std::fs::write(dir.join("src/main.rs"), downstream_main()).expect("write main.rs");
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");

    let target = dir.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo build");
    assert!(
        build.status.success(),
        "{}",
        describe("cargo build", &build)
    );

    let run = Command::new(target.join("debug/ferrokafka-downstream-check"))
        .output()
        .expect("run the downstream binary");
    let stdout = String::from_utf8_lossy(&run.stdout);
    // An abort (SIGABRT on allocation failure) has no exit code; an accepted frame exits 3.
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        describe("downstream", &run)
    );
    let reason = stdout
        .strip_prefix(REJECTED)
        .unwrap_or_else(|| panic!("{}", describe("downstream", &run)));
    assert!(
        reason.contains("OffsetFetch"),
        "rejected for another reason: {reason}"
    );
}
