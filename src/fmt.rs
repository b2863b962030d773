//! Numbers for people: currents in pA/nA, durations as h:mm:ss.

use std::time::Duration;

/// A current with an SI prefix suited to C-AFM (fA to mA).
pub fn current(a: f64) -> String {
    if !a.is_finite() {
        return "—".into();
    }
    let m = a.abs();
    let (v, unit) = if m < 1e-12 {
        (a * 1e15, "fA")
    } else if m < 1e-9 {
        (a * 1e12, "pA")
    } else if m < 1e-6 {
        (a * 1e9, "nA")
    } else if m < 1e-3 {
        (a * 1e6, "µA")
    } else {
        (a * 1e3, "mA")
    };
    format!("{v:.1} {unit}")
}

/// `m:ss` under an hour, `h:mm:ss` above.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A hysteresis loop area (V·A) in pW-like units: V·pA.
pub fn loop_area(va: f64) -> String {
    if !va.is_finite() {
        return "—".into();
    }
    format!("{:.1} V·pA", va * 1e12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(current(2.123e-10), "212.3 pA");
        assert_eq!(current(-1.5e-9), "-1.5 nA");
        assert_eq!(current(3e-15), "3.0 fA");
        assert_eq!(duration(Duration::from_secs(75)), "1:15");
        assert_eq!(duration(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(loop_area(1.5e-11), "15.0 V·pA");
    }
}
