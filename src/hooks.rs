//! Faults a test can switch on in the real binary, to see what the program
//! does when a part of it fails: `DUALSCOPE_FAULT_<NAME>=N` in the
//! environment arms fault `NAME` at count `N`.
//!
//! Compiled only with the `test-hooks` feature, which `cargo test` turns on
//! (the package is its own dev-dependency with it) and no other build has, so
//! no release binary carries them.

/// The count at which fault `name` fires, if a test armed it.
pub fn armed(name: &str) -> Option<u64> {
    std::env::var(format!("DUALSCOPE_FAULT_{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Panics if fault `name` is armed at `count`.
pub fn panic_at(name: &str, count: u64) {
    if armed(name) == Some(count) {
        panic!("test hook DUALSCOPE_FAULT_{name}={count}");
    }
}
