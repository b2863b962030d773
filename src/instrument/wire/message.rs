//! The commands and replies of `dualscope-wire/1` (CONTRACTS §1), as types.

use super::array;
use crate::instrument::SweepRequest;
use crate::record::{Identity, Limits, SweepEnd};

/// A request from the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Idn,
    Lim,
    Stat,
    Engage,
    Withdraw,
    Topo {
        rows: u32,
        cols: u32,
        row0: u32,
        nrows: u32,
    },
    Move {
        x_nm: f64,
        y_nm: f64,
    },
    Iv {
        v_start: f64,
        v_max: f64,
        v_end: f64,
        points: u32,
        dwell_ms: f64,
    },
    Abort,
}

impl From<&SweepRequest> for Request {
    fn from(s: &SweepRequest) -> Self {
        Self::Iv {
            v_start: s.v_start,
            v_max: s.v_max,
            v_end: s.v_end,
            points: s.points,
            dwell_ms: s.dwell_ms,
        }
    }
}

/// The error codes of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrCode {
    BadCrc,
    BadCmd,
    BadArg,
    Limit,
    Busy,
    NotEngaged,
    Internal,
    /// A code this version does not know (instruments may add codes).
    Other(String),
}

impl ErrCode {
    pub fn as_str(&self) -> &str {
        match self {
            Self::BadCrc => "BADCRC",
            Self::BadCmd => "BADCMD",
            Self::BadArg => "BADARG",
            Self::Limit => "LIMIT",
            Self::Busy => "BUSY",
            Self::NotEngaged => "NOTENGAGED",
            Self::Internal => "INTERNAL",
            Self::Other(s) => s,
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "BADCRC" => Self::BadCrc,
            "BADCMD" => Self::BadCmd,
            "BADARG" => Self::BadArg,
            "LIMIT" => Self::Limit,
            "BUSY" => Self::Busy,
            "NOTENGAGED" => Self::NotEngaged,
            "INTERNAL" => Self::Internal,
            other => Self::Other(other.to_string()),
        }
    }
}

/// A reply from the instrument.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok(String),
    Err { code: ErrCode, message: String },
}

impl Reply {
    pub fn body(&self) -> String {
        match self {
            Self::Ok(p) if p.is_empty() => "OK".into(),
            Self::Ok(p) => format!("OK {p}"),
            Self::Err { code, message } => format!("ERR {} {message}", code.as_str()),
        }
    }

    pub fn parse(body: &str) -> Option<Self> {
        if body == "OK" {
            return Some(Self::Ok(String::new()));
        }
        if let Some(p) = body.strip_prefix("OK ") {
            return Some(Self::Ok(p.to_string()));
        }
        let rest = body.strip_prefix("ERR ")?;
        let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(Self::Err {
            code: ErrCode::parse(code),
            message: message.to_string(),
        })
    }

    pub fn err(code: ErrCode, message: impl Into<String>) -> Self {
        Self::Err {
            code,
            message: message.into(),
        }
    }
}

/// Why a request body could not be understood (the instrument's side).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: ErrCode,
    pub message: String,
}

fn refuse(code: ErrCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

fn num<T: std::str::FromStr>(text: Option<&str>, what: &str) -> Result<T, Refusal> {
    text.ok_or_else(|| refuse(ErrCode::BadArg, format!("missing {what}")))?
        .parse()
        .map_err(|_| refuse(ErrCode::BadArg, format!("bad {what}")))
}

fn finite(v: f64, what: &str) -> Result<f64, Refusal> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(refuse(ErrCode::BadArg, format!("{what} is not finite")))
    }
}

impl Request {
    /// The request as it goes on the wire (without seq and CRC).
    pub fn body(&self) -> String {
        match self {
            Self::Idn => "*IDN?".into(),
            Self::Lim => "LIM?".into(),
            Self::Stat => "STAT?".into(),
            Self::Engage => "ENGAGE".into(),
            Self::Withdraw => "WITHDRAW".into(),
            Self::Topo {
                rows,
                cols,
                row0,
                nrows,
            } => format!("TOPO? {rows} {cols} {row0} {nrows}"),
            Self::Move { x_nm, y_nm } => format!("MOVE {x_nm} {y_nm}"),
            Self::Iv {
                v_start,
                v_max,
                v_end,
                points,
                dwell_ms,
            } => {
                format!("IV {v_start} {v_max} {v_end} {points} {dwell_ms}")
            }
            Self::Abort => "ABORT".into(),
        }
    }

    /// The short name used in events and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idn => "*IDN?",
            Self::Lim => "LIM?",
            Self::Stat => "STAT?",
            Self::Engage => "ENGAGE",
            Self::Withdraw => "WITHDRAW",
            Self::Topo { .. } => "TOPO?",
            Self::Move { .. } => "MOVE",
            Self::Iv { .. } => "IV",
            Self::Abort => "ABORT",
        }
    }

    /// Parses a request body (commands are case-insensitive).
    pub fn parse(body: &str) -> Result<Self, Refusal> {
        let mut words = body.split(' ');
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let request = match command.as_str() {
            "*IDN?" => Self::Idn,
            "LIM?" => Self::Lim,
            "STAT?" => Self::Stat,
            "ENGAGE" => Self::Engage,
            "WITHDRAW" => Self::Withdraw,
            "ABORT" => Self::Abort,
            "TOPO?" => Self::Topo {
                rows: num(words.next(), "rows")?,
                cols: num(words.next(), "cols")?,
                row0: num(words.next(), "row0")?,
                nrows: num(words.next(), "nrows")?,
            },
            "MOVE" => Self::Move {
                x_nm: finite(num(words.next(), "x_nm")?, "x_nm")?,
                y_nm: finite(num(words.next(), "y_nm")?, "y_nm")?,
            },
            "IV" => Self::Iv {
                v_start: finite(num(words.next(), "v_start")?, "v_start")?,
                v_max: finite(num(words.next(), "v_max")?, "v_max")?,
                v_end: finite(num(words.next(), "v_end")?, "v_end")?,
                points: num(words.next(), "points")?,
                dwell_ms: finite(num(words.next(), "dwell_ms")?, "dwell_ms")?,
            },
            "" => return Err(refuse(ErrCode::BadCmd, "empty command")),
            other => return Err(refuse(ErrCode::BadCmd, format!("unknown command {other}"))),
        };
        if words.next().is_some() {
            return Err(refuse(ErrCode::BadArg, format!("too many arguments for {command}")));
        }
        Ok(request)
    }
}

/// Payload parsers: `None` when the instrument's reply is not what §1 says.
pub mod payload {
    use super::*;

    pub fn identity(p: &str) -> Option<Identity> {
        Identity::parse_idn(p)
    }

    pub fn limits(p: &str) -> Option<Limits> {
        let mut bias = None;
        let mut current = None;
        let mut x = None;
        let mut y = None;
        for pair in p.split(' ') {
            let (k, v) = pair.split_once('=')?;
            let v: f64 = v.parse().ok()?;
            match k {
                "bias_max_v" => bias = Some(v),
                "current_max_a" => current = Some(v),
                "x_max_nm" => x = Some(v),
                "y_max_nm" => y = Some(v),
                _ => {}
            }
        }
        Some(Limits {
            bias_max_v: bias?,
            current_max_a: current?,
            x_max_nm: x?,
            y_max_nm: y?,
        })
    }

    pub fn limits_body(l: &Limits) -> String {
        format!(
            "bias_max_v={} current_max_a={} x_max_nm={} y_max_nm={}",
            l.bias_max_v, l.current_max_a, l.x_max_nm, l.y_max_nm
        )
    }

    /// `state=… x_nm=F y_nm=F`.
    pub fn status(p: &str) -> Option<(String, f64, f64)> {
        let mut state = None;
        let mut x = None;
        let mut y = None;
        for pair in p.split(' ') {
            let (k, v) = pair.split_once('=')?;
            match k {
                "state" => state = Some(v.to_string()),
                "x_nm" => x = v.parse().ok(),
                "y_nm" => y = v.parse().ok(),
                _ => {}
            }
        }
        Some((state?, x?, y?))
    }

    /// One band of a survey image.
    #[derive(Debug, Clone, PartialEq)]
    pub struct TopoBand {
        pub rows: u32,
        pub cols: u32,
        pub width_nm: f64,
        pub height_nm: f64,
        pub row0: u32,
        pub nrows: u32,
        pub heights_nm: Vec<f32>,
    }

    pub fn topo(p: &str) -> Option<TopoBand> {
        let mut w = p.split(' ');
        let band = TopoBand {
            rows: w.next()?.parse().ok()?,
            cols: w.next()?.parse().ok()?,
            width_nm: w.next()?.parse().ok()?,
            height_nm: w.next()?.parse().ok()?,
            row0: w.next()?.parse().ok()?,
            nrows: w.next()?.parse().ok()?,
            heights_nm: array::decode(w.next()?)?,
        };
        (band.heights_nm.len() == (band.nrows as usize) * (band.cols as usize) && w.next().is_none()).then_some(band)
    }

    pub fn topo_body(b: &TopoBand) -> String {
        format!(
            "{} {} {} {} {} {} {}",
            b.rows,
            b.cols,
            b.width_nm,
            b.height_nm,
            b.row0,
            b.nrows,
            array::encode(&b.heights_nm)
        )
    }

    pub fn moved(p: &str) -> Option<(f64, f64)> {
        let (x, y) = p.split_once(' ')?;
        Some((x.parse().ok()?, y.parse().ok()?))
    }

    /// `<n> <end> <bias> <current>`.
    pub fn iv(p: &str) -> Option<(SweepEnd, Vec<f32>, Vec<f32>)> {
        let mut w = p.split(' ');
        let n: usize = w.next()?.parse().ok()?;
        let end = SweepEnd::parse(w.next()?)?;
        let bias = array::decode(w.next()?)?;
        let current = array::decode(w.next()?)?;
        (bias.len() == n && current.len() == n && w.next().is_none()).then_some((end, bias, current))
    }

    pub fn iv_body(end: SweepEnd, bias_v: &[f64], current_a: &[f64]) -> String {
        format!(
            "{} {} {} {}",
            bias_v.len(),
            end.label(),
            array::encode_f64(bias_v),
            array::encode_f64(current_a)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn finite() -> impl Strategy<Value = f64> {
        -1e6f64..1e6
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            Just(Request::Idn),
            Just(Request::Lim),
            Just(Request::Stat),
            Just(Request::Engage),
            Just(Request::Withdraw),
            Just(Request::Abort),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(rows, cols, row0, nrows)| {
                Request::Topo {
                    rows,
                    cols,
                    row0,
                    nrows,
                }
            }),
            (finite(), finite()).prop_map(|(x_nm, y_nm)| Request::Move { x_nm, y_nm }),
            (finite(), finite(), finite(), any::<u32>(), finite()).prop_map(
                |(v_start, v_max, v_end, points, dwell_ms)| Request::Iv {
                    v_start,
                    v_max,
                    v_end,
                    points,
                    dwell_ms
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn every_request_round_trips(r in request()) {
            prop_assert_eq!(Request::parse(&r.body()).unwrap(), r);
        }

        #[test]
        fn replies_round_trip(payload in "[ -~]{0,80}", code in "[A-Z]{3,10}", message in "[ -~]{0,40}") {
            let ok = Reply::Ok(payload.trim_start().to_string());
            prop_assert_eq!(Reply::parse(&ok.body()).unwrap(), ok);
            let err = Reply::Err { code: ErrCode::parse(&code), message };
            prop_assert_eq!(Reply::parse(&err.body()).unwrap(), err);
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in "\\PC{0,120}") {
            let _ = Request::parse(&body);
            let _ = Reply::parse(&body);
            let _ = payload::iv(&body);
            let _ = payload::topo(&body);
            let _ = payload::limits(&body);
            let _ = payload::status(&body);
        }

        #[test]
        fn iv_payload_round_trips(points in proptest::collection::vec((-2.0f64..2.0, -1e-6f64..1e-6), 0..300)) {
            let bias: Vec<f64> = points.iter().map(|p| p.0).collect();
            let current: Vec<f64> = points.iter().map(|p| p.1).collect();
            let (end, b, c) = payload::iv(&payload::iv_body(SweepEnd::Compliance, &bias, &current)).unwrap();
            prop_assert_eq!(end, SweepEnd::Compliance);
            prop_assert_eq!(b, bias.iter().map(|v| *v as f32).collect::<Vec<_>>());
            prop_assert_eq!(c, current.iter().map(|v| *v as f32).collect::<Vec<_>>());
        }
    }

    #[test]
    fn commands_are_case_insensitive_and_limits_parse() {
        assert_eq!(
            Request::parse("move 1.5 2").unwrap(),
            Request::Move { x_nm: 1.5, y_nm: 2.0 }
        );
        assert_eq!(Request::parse("*idn?").unwrap(), Request::Idn);
        assert_eq!(Request::parse("FLY").unwrap_err().code, ErrCode::BadCmd);
        assert_eq!(Request::parse("MOVE 1").unwrap_err().code, ErrCode::BadArg);
        assert_eq!(Request::parse("MOVE NaN 1").unwrap_err().code, ErrCode::BadArg);
        let l = payload::limits("bias_max_v=2 current_max_a=5e-9 x_max_nm=2000 y_max_nm=2000").unwrap();
        assert_eq!(l.current_max_a, 5e-9);
        assert_eq!(payload::limits(&payload::limits_body(&l)).unwrap(), l);
    }
}
