//! The release artefacts `scripts/package.sh` writes to `dist/` (`scripts/test.sh` builds them
//! first): the binary needs glibc 2.17 at most (its ELF symbol versions, read here), the `.deb`
//! installs, runs `--version` and `check-config` on the installed example, and removes cleanly,
//! and the `.rpm` holds the same files with the glibc requirements rpm computed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::run;

fn dist() -> PathBuf {
    std::env::var_os("HEADROOM_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("dist"))
}

fn artefact(suffix: &str) -> PathBuf {
    let dir = dist();
    std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| {
            panic!(
                "no *{suffix} in {}: run ./scripts/package.sh (./scripts/test.sh does)",
                dir.display()
            )
        })
}

/// The version names (`GLIBC_2.17`, ...) an ELF64 little-endian file needs from its shared
/// libraries: the `vna_name`s of its `SHT_GNU_verneed` section.
fn needed_versions(elf: &[u8]) -> BTreeSet<String> {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at =
        |o: usize| u32::from_le_bytes([elf[o], elf[o + 1], elf[o + 2], elf[o + 3]]) as usize;
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&elf[o..o + 8]);
        u64::from_le_bytes(b) as usize
    };
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!((elf[4], elf[5]), (2, 1), "not ELF64 little-endian");
    let (shoff, shentsize, shnum) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c));
    let section = |i: usize| {
        let h = shoff + i * shentsize;
        // (type, offset, link, info)
        (
            u32_at(h + 4),
            u64_at(h + 0x18),
            u32_at(h + 0x28),
            u32_at(h + 0x2c),
        )
    };
    const SHT_GNU_VERNEED: usize = 0x6fff_fffe;
    let mut out = BTreeSet::new();
    for i in 0..shnum {
        let (kind, offset, link, count) = section(i);
        if kind != SHT_GNU_VERNEED {
            continue;
        }
        let strings = section(link).1;
        let name = |o: usize| {
            let start = strings + o;
            let end = elf[start..]
                .iter()
                .position(|&b| b == 0)
                .map_or(elf.len(), |n| start + n);
            String::from_utf8_lossy(&elf[start..end]).to_string()
        };
        let mut need = offset;
        for _ in 0..count {
            let (cnt, aux, next) = (u16_at(need + 2), u32_at(need + 8), u32_at(need + 12));
            let mut a = need + aux;
            for _ in 0..cnt {
                out.insert(name(u32_at(a + 8)));
                a += u32_at(a + 12);
            }
            if next == 0 {
                break;
            }
            need += next;
        }
    }
    out
}

fn glibc_version(name: &str) -> Option<(u32, u32, u32)> {
    let v = name.strip_prefix("GLIBC_")?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
        parts.next().flatten().unwrap_or(0),
    ))
}

/// The files (not folders) a package installs, as absolute paths.
fn deb_files(deb: &Path) -> BTreeSet<String> {
    run(Command::new("dpkg-deb").arg("--contents").arg(deb))
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

const EXPECTED: &[&str] = &[
    "/usr/bin/headroom",
    "/usr/lib/systemd/system/headroom.service",
    "/usr/share/doc/headroom/config.example.yaml",
    "/usr/share/doc/headroom/web-config.example.yml",
    "/usr/share/doc/headroom/README.md",
    "/usr/share/doc/headroom/METRICS.md",
    // The alerts' runbook_url points here.
    "/usr/share/doc/headroom/rules/README.md",
    "/usr/share/headroom/rules/headroom.rules.yml",
    "/usr/share/headroom/rules/headroom.alerts.yml",
    "/usr/share/headroom/alertmanager/alertmanager.example.yml",
    "/usr/share/headroom/dashboards/headroom-overview.json",
    "/usr/share/headroom/dashboards/headroom-exporter.json",
    "/usr/share/headroom/install-rules.sh",
    "/usr/share/man/man1/headroom.1.gz",
];

#[test]
fn the_packaged_binary_needs_glibc_2_17_at_most() {
    let tarball = artefact("-x86_64-linux-gnu.tar.gz");
    let dir = std::env::temp_dir().join(format!("headroom-package-elf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dir)
        .arg("./usr/bin/headroom"));
    let elf = std::fs::read(dir.join("usr/bin/headroom")).unwrap_or_else(|e| panic!("{e}"));
    let versions = needed_versions(&elf);
    let glibc: Vec<(u32, u32, u32)> = versions.iter().filter_map(|v| glibc_version(v)).collect();
    assert!(!glibc.is_empty(), "no GLIBC_ versions found: {versions:?}");
    let highest = glibc.iter().max().copied().unwrap_or_default();
    assert!(
        highest <= (2, 17, 0),
        "needs GLIBC_{}.{}.{}: {versions:?}",
        highest.0,
        highest.1,
        highest.2
    );
    // Nothing but glibc's own libraries' versions (no libstdc++, no OpenSSL).
    for v in &versions {
        assert!(v.starts_with("GLIBC_"), "needs {v}: {versions:?}");
    }
    // The reader finds what a binary of this machine's glibc needs, too (it is not blind).
    let own = needed_versions(&std::fs::read(env!("CARGO_BIN_EXE_headroom")).unwrap_or_default());
    assert!(own.iter().any(|v| v == "GLIBC_2.2.5"), "{own:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_rpm_holds_what_the_deb_holds_and_requires_glibc_2_17_at_most() {
    let deb = artefact("_amd64.deb");
    let rpm = artefact(".x86_64.rpm");
    let deb_set = deb_files(&deb);
    for f in EXPECTED {
        assert!(deb_set.contains(*f), "the .deb lacks {f}: {deb_set:?}");
    }
    let listed = run(Command::new("rpm")
        .args(["-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\\n]"])
        .arg(&rpm));
    let rpm_set: BTreeSet<String> = listed
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    assert_eq!(
        rpm_set, deb_set,
        "the .rpm and the .deb install different files"
    );
    let requires = run(Command::new("rpm").args(["-qp", "--requires"]).arg(&rpm));
    assert!(
        requires.contains("libc.so.6(GLIBC_2.17)(64bit)"),
        "{requires}"
    );
    for line in requires.lines() {
        if let Some(v) = line
            .split('(')
            .nth(1)
            .and_then(|v| v.strip_suffix(")(64bit)").or(v.strip_suffix(')')))
        {
            if let Some(version) = glibc_version(v) {
                assert!(version <= (2, 17, 0), "the .rpm requires {line}");
            }
        }
    }
    let scripts = run(Command::new("rpm").args(["-qp", "--scripts"]).arg(&rpm));
    assert!(scripts.contains("useradd -r -g headroom"), "{scripts}");
    let meta = run(Command::new("rpm")
        .args(["-qp", "--qf", "%{NAME} %{VERSION} %{ARCH}"])
        .arg(&rpm));
    assert_eq!(
        meta.trim(),
        format!("headroom {} x86_64", env!("CARGO_PKG_VERSION"))
    );
    let perms = run(Command::new("rpm")
        .args([
            "-qp",
            "--qf",
            "[%{FILEMODES:perms} %{FILEGROUPNAME} %{FILENAMES}\\n]",
        ])
        .arg(&rpm));
    assert!(
        perms
            .lines()
            .any(|l| l == "drwxr-x--- headroom /etc/headroom/secrets"),
        "{perms}"
    );
    let fields = run(Command::new("dpkg-deb").args(["--field"]).arg(&deb).args([
        "Package",
        "Version",
        "Architecture",
        "Depends",
    ]));
    assert!(
        fields.contains("Package: headroom") && fields.contains("Architecture: amd64"),
        "{fields}"
    );
    assert!(fields.contains("Depends: libc6 (>= 2.17)"), "{fields}");
}

#[test]
fn the_deb_installs_runs_and_removes_cleanly() {
    let deb = artefact("_amd64.deb");
    let root = run(Command::new("id").arg("-u")).trim() == "0";
    assert!(root, "installing the .deb needs root (CI runs as root)");
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "headroom"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false);
    assert!(
        !installed,
        "a headroom package is installed on this machine already; this test would replace it"
    );

    run(Command::new("dpkg").arg("--install").arg(&deb));
    let removed = || {
        let _ = Command::new("dpkg").args(["--purge", "headroom"]).output();
    };
    // Always removed, even when an assertion below fails.
    struct Purge<F: Fn()>(F);
    impl<F: Fn()> Drop for Purge<F> {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let _purge = Purge(removed);

    let version = run(Command::new("/usr/bin/headroom").arg("--version"));
    assert!(
        version.starts_with(&format!(
            "headroom {} (revision ",
            env!("CARGO_PKG_VERSION")
        )),
        "{version}"
    );
    let check = run(Command::new("/usr/bin/headroom")
        .args([
            "check-config",
            "--config",
            "/usr/share/doc/headroom/config.example.yaml",
        ])
        .env("HCSO_PASSWORD", "p")
        .env("HCSO_APPCODE", "c")
        .env("SCP_ACCESS_KEY", "ak")
        .env("SCP_SECRET_KEY", "sk")
        .env("CLOUDOS_PASSWORD", "pw")
        .env("CEC_TOKEN", "t"));
    assert!(check.contains(": OK ("), "{check}");
    // The system user, and the secrets folder only it (and root) may read.
    let user = run(Command::new("id").arg("headroom"));
    assert!(user.contains("(headroom)"), "{user}");
    let secrets = run(Command::new("stat").args(["-c", "%a %U %G", "/etc/headroom/secrets"]));
    assert_eq!(secrets.trim(), "750 root headroom");
    // The man page is there and reads.
    let man = run(Command::new("sh").args(["-c", "gzip -dc /usr/share/man/man1/headroom.1.gz"]));
    assert!(
        man.starts_with(".TH HEADROOM 1") && man.contains("check-config"),
        "{}",
        &man[..man.len().min(400)]
    );
    // The packaged install-rules.sh finds the packaged rules.
    let out = std::env::temp_dir().join(format!("headroom-package-rules-{}", std::process::id()));
    run(Command::new("/usr/share/headroom/install-rules.sh")
        .arg(&out)
        .args(["--runbook-base", "https://wiki.example/headroom"]));
    let alerts = std::fs::read_to_string(out.join("headroom.alerts.yml")).unwrap_or_default();
    assert!(alerts.contains("https://wiki.example/headroom#headroomcapacityhigh"));
    let _ = std::fs::remove_dir_all(&out);

    drop(_purge);
    assert!(
        !Path::new("/usr/bin/headroom").exists(),
        "purge left the binary"
    );
    assert!(
        !Path::new("/usr/lib/systemd/system/headroom.service").exists(),
        "purge left the unit"
    );
}
