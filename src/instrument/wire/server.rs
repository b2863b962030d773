//! The instrument side of `dualscope-wire/1`: any [`Instrument`] answering
//! framed requests, with cached replies so a repeated request is answered
//! again without acting twice.
//!
//! A repeat is the same `seq` with the same body: a host that numbers from
//! the same start as an earlier one (CONTRACTS §1 lets it) sends the same
//! `seq` with a different request, and that is a new request, acted on.

use super::frame::{self, FrameError, MAX_LINE};
use super::message::{ErrCode, Reply, Request, payload};
use crate::instrument::{Instrument, InstrumentError, SweepRequest};
use crate::record::Survey;
use std::collections::VecDeque;

/// Replies remembered for repeated requests.
const CACHE: usize = 32;

pub struct WireServer<I: Instrument> {
    instrument: I,
    cache: VecDeque<(u32, String, String)>,
    survey: Option<Survey>,
    survey_asked: (u32, u32),
    /// Rows of the cached image handed out so far, up to its end.
    survey_served_to: u32,
    engaged: bool,
    x_nm: f64,
    y_nm: f64,
    /// Requests acted on (repeats and refused lines not counted).
    pub handled: u64,
    /// Where every request acted on is written, one `seq body` line each.
    request_log: Option<std::fs::File>,
}

fn error_reply(e: &InstrumentError) -> Reply {
    match e {
        InstrumentError::Limit(m) => Reply::err(ErrCode::Limit, m.clone()),
        InstrumentError::BadArgument(m) => Reply::err(ErrCode::BadArg, m.clone()),
        InstrumentError::Refused { code, message } => Reply::err(ErrCode::parse(code), message.clone()),
        other => Reply::err(ErrCode::Internal, other.to_string()),
    }
}

impl<I: Instrument> WireServer<I> {
    pub fn new(instrument: I) -> Self {
        Self {
            instrument,
            cache: VecDeque::new(),
            survey: None,
            survey_asked: (0, 0),
            survey_served_to: 0,
            engaged: false,
            x_nm: 0.0,
            y_nm: 0.0,
            handled: 0,
            request_log: None,
        }
    }

    /// Writes every request acted on (not the repeats answered from the cache)
    /// to `file`, one `seq body` line each: what the instrument really did.
    pub fn log_requests(&mut self, file: std::fs::File) {
        self.request_log = Some(file);
    }

    /// Forgets everything, as a power-cycled controller would: tip withdrawn,
    /// no cached replies.
    pub fn reset(&mut self) {
        let _ = self.instrument.withdraw();
        self.cache.clear();
        self.engaged = false;
        self.survey = None;
    }

    /// Answers one received line (its `\n` optional); the reply line ends in `\n`.
    pub fn handle_line(&mut self, line: &[u8]) -> String {
        let (seq, body) = match frame::decode(line) {
            Ok(ok) => ok,
            Err(FrameError::BadCrc { seq }) => {
                return frame::encode(
                    seq.unwrap_or(0),
                    &Reply::err(ErrCode::BadCrc, "CRC mismatch, not acted on").body(),
                );
            }
            Err(FrameError::TooLong) => {
                return frame::encode(0, &Reply::err(ErrCode::BadArg, "line too long").body());
            }
            Err(e) => return frame::encode(0, &Reply::err(ErrCode::BadCrc, e.to_string()).body()),
        };
        if let Some((_, _, cached)) = self.cache.iter().find(|(s, b, _)| *s == seq && *b == body) {
            return cached.clone();
        }
        let reply = match Request::parse(&body) {
            Ok(request) => {
                self.handled += 1;
                if let Some(log) = &mut self.request_log {
                    use std::io::Write;
                    let _ = log.write_all(format!("{seq} {body}\n").as_bytes());
                }
                self.act(request)
            }
            Err(refusal) => Reply::Err {
                code: refusal.code,
                message: refusal.message,
            },
        };
        let mut line = frame::encode(seq, &reply.body());
        if line.len() > MAX_LINE {
            line = frame::encode(seq, &Reply::err(ErrCode::BadArg, "reply would exceed 64 KiB").body());
        }
        self.cache.push_back((seq, body, line.clone()));
        while self.cache.len() > CACHE {
            self.cache.pop_front();
        }
        line
    }

    fn act(&mut self, request: Request) -> Reply {
        let result = match request {
            Request::Idn => self.instrument.identity().map(|i| i.idn()),
            Request::Lim => self.instrument.limits().map(|l| payload::limits_body(&l)),
            Request::Stat => {
                let state = if self.engaged { "engaged" } else { "idle" };
                Ok(format!("state={state} x_nm={} y_nm={}", self.x_nm, self.y_nm))
            }
            Request::Engage => self.instrument.engage().map(|_| {
                self.engaged = true;
                String::new()
            }),
            Request::Withdraw => self.instrument.withdraw().map(|_| {
                self.engaged = false;
                String::new()
            }),
            Request::Abort => self.instrument.abort().map(|_| String::new()),
            Request::Move { x_nm, y_nm } => self.instrument.move_to(x_nm, y_nm).map(|(x, y)| {
                self.x_nm = x;
                self.y_nm = y;
                format!("{x} {y}")
            }),
            Request::Iv {
                v_start,
                v_max,
                v_end,
                points,
                dwell_ms,
            } => {
                if !self.engaged {
                    return Reply::err(ErrCode::NotEngaged, "the tip is not on the surface");
                }
                let sweep = SweepRequest {
                    v_start,
                    v_max,
                    v_end,
                    points,
                    dwell_ms,
                };
                if !(2..=100_000).contains(&points) {
                    return Reply::err(ErrCode::BadArg, format!("points = {points}"));
                }
                self.instrument
                    .sweep(&sweep)
                    .map(|s| payload::iv_body(s.end, &s.bias_v, &s.current_a))
            }
            Request::Topo {
                rows,
                cols,
                row0,
                nrows,
            } => return self.topo(rows, cols, row0, nrows),
        };
        match result {
            Ok(p) => Reply::Ok(p),
            Err(e) => error_reply(&e),
        }
    }

    fn topo(&mut self, rows: u32, cols: u32, row0: u32, nrows: u32) -> Reply {
        if rows == 0 || cols == 0 || rows > 8192 || cols > 8192 || nrows == 0 {
            return Reply::err(ErrCode::BadArg, format!("band {row0}+{nrows} of {rows}×{cols}"));
        }
        // A new image for another size, or for band 0 once the last image was
        // handed out to its end (a host imaging the frame again, to follow
        // drift); band 0 asked again part way through is the same image.
        let done = matches!(&self.survey, Some(s) if self.survey_served_to >= s.rows());
        let fresh = !matches!(&self.survey, Some(s) if self.survey_asked == (rows, cols) && s.rows() > 0)
            || (row0 == 0 && done);
        if fresh {
            match self.instrument.survey(rows, cols) {
                Ok(s) => {
                    self.survey = Some(s);
                    self.survey_asked = (rows, cols);
                    self.survey_served_to = 0;
                }
                Err(e) => return error_reply(&e),
            }
        }
        let s = self.survey.as_ref().expect("survey taken above");
        // An instrument that images at its own resolution says so in the reply.
        let (rows, cols) = (s.rows(), s.cols());
        if row0.saturating_add(nrows) > rows {
            return Reply::err(
                ErrCode::BadArg,
                format!("band {row0}+{nrows} outside the {rows}×{cols} image"),
            );
        }
        // Base64 of 4-byte floats plus the header must fit one 64 KiB line.
        if (nrows as usize * cols as usize * 4).div_ceil(3) * 4 + 200 > MAX_LINE {
            return Reply::err(
                ErrCode::BadArg,
                format!("a band of {nrows} rows of {cols} px does not fit a 64 KiB line"),
            );
        }
        let band: Vec<f32> = s
            .heights_nm
            .rows()
            .into_iter()
            .skip(row0 as usize)
            .take(nrows as usize)
            .flat_map(|r| r.iter().map(|v| *v as f32).collect::<Vec<_>>())
            .collect();
        let reply = Reply::Ok(payload::topo_body(&payload::TopoBand {
            rows,
            cols,
            width_nm: s.width_nm,
            height_nm: s.height_nm,
            row0,
            nrows,
            heights_nm: band,
        }));
        self.survey_served_to = self.survey_served_to.max(row0 + nrows);
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::sim::{SimConfig, SimInstrument};

    fn server() -> WireServer<SimInstrument> {
        let mut plan = crate::plan::SessionPlan::default();
        plan.sim.time_scale = 0.0;
        WireServer::new(SimInstrument::new(SimConfig::from_plan(&plan)).unwrap())
    }

    #[test]
    fn a_repeat_is_answered_from_the_cache_and_a_new_request_under_an_old_seq_is_acted_on() {
        let mut s = server();
        let first = s.handle_line(frame::encode(7, "MOVE 100 200").as_bytes());
        assert_eq!(s.handled, 1);
        // The same line again (its reply was lost): the cached reply, not a second move.
        assert_eq!(s.handle_line(frame::encode(7, "MOVE 100 200").as_bytes()), first);
        assert_eq!(s.handled, 1);
        // Another host numbering from the same start: a different request.
        let other = s.handle_line(frame::encode(7, "MOVE 300 400").as_bytes());
        assert_eq!(s.handled, 2);
        assert!(other.contains("OK 300 400"), "{other}");
    }

    /// Band 0 of an image handed out to its end is a new image (a host
    /// following drift images the frame again); part way through it is the
    /// same image.
    #[test]
    fn the_frame_is_imaged_again_once_the_last_image_was_fetched_whole() {
        let mut plan = crate::plan::SessionPlan::default();
        plan.sim.time_scale = 0.0;
        plan.sim.artefacts.drift_nm_per_min = [30_000.0, 0.0];
        let mut s = WireServer::new(SimInstrument::new(SimConfig::from_plan(&plan)).unwrap());
        let mut band = |seq: u32, row0: u32| {
            let reply = s.handle_line(frame::encode(seq, &format!("TOPO? 16 16 {row0} 8")).as_bytes());
            frame::decode(reply.trim_end().as_bytes()).unwrap().1
        };
        let first = band(1, 0);
        let again = band(2, 0);
        assert_eq!(first, again, "band 0 asked again part way through: the same image");
        band(3, 8);
        let next = band(4, 0);
        assert_ne!(first, next, "the image after a whole one is new (the film drifted)");
    }
}
