//! Records what a build is made of for `headroom_build_info` and `--version`: the git revision
//! (`unknown` outside a git checkout, e.g. a source tarball) and the compiler's version.

use std::path::Path;
use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    let revision =
        output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // "rustc 1.95.0 (59807616e 2026-04-14)" → "1.95.0"
    let rustc_version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HEADROOM_REVISION={revision}");
    println!("cargo:rustc-env=HEADROOM_RUSTC={rustc_version}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=HEADROOM_TARGET={target}");
    for (cfg, name) in [
        ("CARGO_CFG_TARGET_OS", "HEADROOM_OS"),
        ("CARGO_CFG_TARGET_ARCH", "HEADROOM_ARCH"),
    ] {
        let v = std::env::var(cfg).unwrap_or_else(|_| "unknown".into());
        println!("cargo:rustc-env={name}={v}");
    }
    // Build again when the checkout moves to another commit.
    for path in [".git/HEAD", ".git/refs/heads"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
