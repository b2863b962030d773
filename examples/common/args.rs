//! The value after `--name` on an example's command line. Each example is its
//! own crate, so they share this file by `#[path]` rather than through the
//! library (whose users never parse an example's flags).

pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|k| args.get(k + 1))
        .cloned()
}
