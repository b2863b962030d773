//! A curve's standing after the operator looked at it: the `flags` table's
//! row. A curve is never removed from the log; a flag says whether the
//! models may learn from it, and the newest flag of a step is its standing.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The `flag` word of a curve the models must leave out.
pub const REJECTED: &str = "rejected";
/// The `flag` word of a rejection taken back.
pub const RESTORED: &str = "restored";

/// One row of `flags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// The curve's step in `measurements`.
    pub step: u32,
    pub t_ms: i64,
    /// `rejected` or `restored`; a word this version does not know is kept
    /// and read as no change.
    pub flag: String,
    pub reason: String,
}

/// The steps whose newest flag is a rejection.
pub fn rejected(flags: &[Flag]) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    for f in flags {
        match f.flag.as_str() {
            REJECTED => {
                out.insert(f.step);
            }
            RESTORED => {
                out.remove(&f.step);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_flag_of_a_step_decides() {
        let f = |step, flag: &str| Flag {
            step,
            t_ms: 0,
            flag: flag.into(),
            reason: String::new(),
        };
        let flags = [
            f(3, REJECTED),
            f(5, REJECTED),
            f(3, RESTORED),
            f(7, "checked"),
            f(5, REJECTED),
        ];
        assert_eq!(rejected(&flags).into_iter().collect::<Vec<_>>(), [5]);
    }
}
