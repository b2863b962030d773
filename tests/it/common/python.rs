//! Readers this project did not write, as judges of what it writes: Python
//! packages (pyarrow, DuckDB, …) installed into a throw-away virtual
//! environment under `target/`, made once and shared by the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned packages every interface test may use.
pub const PACKAGES: &[&str] = &[
    "pyarrow==26.0.1",
    "duckdb==2.0.1",
    "nanonis-spm==1.0.9",
    "gwyfile==0.3.0",
    "igor2==0.5.15",
];

/// The virtual environment's python, made on first use (a file lock keeps
/// test processes running side by side from making it twice). `None`, with a
/// line on stderr, only where this machine has no `python3` at all.
pub fn python() -> Option<PathBuf> {
    let system = Command::new("python3").arg("--version").output();
    if !system.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: python3 is not installed, so the reference readers cannot run");
        return None;
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    let dir = target.join("test-venv");
    let lock = std::fs::File::create(target.join("test-venv.lock")).unwrap();
    lock.lock().unwrap();
    let python = dir.join("bin/python");
    let stamp = dir.join("installed.txt");
    let want = PACKAGES.join(" ");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        let ok = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success(), "python3 -m venv failed");
        let out = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pip install {want} failed (the reference readers come from PyPI):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&stamp, &want).unwrap();
    }
    Some(python)
}

/// Runs a Python script with the environment's interpreter; returns stdout,
/// failing the test with the script's stderr if it fails.
pub fn run(python: &Path, script: &str, args: &[&str]) -> String {
    let out = Command::new(python).arg("-c").arg(script).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
