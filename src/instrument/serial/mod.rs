//! The host side of `dualscope-wire/1`: an [`Instrument`] that drives a
//! microscope (or a bridge in front of the vendor's API) over a serial line.
//!
//! Every request gets a fresh `seq`; a timeout or a garbled line sends the very
//! same line again (the instrument answers a repeated `seq` from its cache and
//! does not act twice). A connection starts its numbering at a random `seq`, so
//! it never repeats one that an instrument still holds in its cache from an
//! earlier host process (docs/PROTOCOL.md, "Sequence numbers"). Every reply is
//! checked against its request: a reply that does not fit is not believed and
//! the request goes again under a new `seq`. A port that disappears is reopened
//! with backoff and the instrument must answer `*IDN?` as before. No request
//! outside the limits read with `LIM?` is ever written.

pub mod link;

use super::wire::frame::{self, FrameError};
use super::wire::message::{ErrCode, Reply, Request, payload};
use super::{Instrument, InstrumentError, SweepRequest};
use crate::record::{EventKind, Identity, Limits, LinkEvent, Survey, Sweep};
use link::{Link, LinkError, SerialLink};
use ndarray::Array2;
use std::time::{Duration, Instant};

/// Link settings, from the plan's `[serial]` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SerialSettings {
    pub timeout: Duration,
    /// Added to the sweep's own duration when waiting for an `IV` reply.
    pub sweep_margin: Duration,
    pub retries: u32,
    pub reconnect_for: Duration,
    /// Rows per `TOPO?` band.
    pub band_rows: u32,
    /// Largest survey image (pixels) a `TOPO?` reply may describe.
    pub max_survey_pixels: u64,
    /// The first `seq` of the connection; `None` draws one at random (tests
    /// fix it to read transcripts).
    pub first_seq: Option<u32>,
}

impl SerialSettings {
    pub fn from_plan(plan: &crate::plan::SessionPlan) -> Self {
        let serial = &plan.serial;
        Self {
            timeout: Duration::from_millis(serial.timeout_ms),
            sweep_margin: Duration::from_millis(serial.sweep_margin_ms),
            retries: serial.retries,
            reconnect_for: Duration::from_secs(serial.reconnect_s),
            band_rows: serial.band_rows,
            max_survey_pixels: crate::plan::memory::max_survey_pixels(plan),
            first_seq: None,
        }
    }
}

/// A `seq` no earlier conversation is likely to have used: random in the
/// lower half of the range, so a long session never wraps into 0.
fn random_first_seq() -> u32 {
    use rand::Rng;
    rand::rng().random_range(1..=0x7fff_ffff)
}

pub struct SerialInstrument {
    link: Box<dyn Link>,
    settings: SerialSettings,
    seq: u32,
    identity: Option<Identity>,
    limits: Option<Limits>,
    events: Vec<LinkEvent>,
    /// Where the host last sent the tip, to put it back after an instrument reset.
    target: Option<(f64, f64)>,
    engaged: bool,
}

/// The f64 nearest the shortest decimal that reads back as this f32: 0.006f32
/// becomes 0.006, not 0.006000000052154064, so the log holds the numbers the
/// instrument meant to send.
pub fn decimal(v: f32) -> f64 {
    if v.is_finite() {
        v.to_string().parse().unwrap_or(v as f64)
    } else {
        v as f64
    }
}

fn lost(e: impl std::fmt::Display) -> InstrumentError {
    InstrumentError::LinkLost(e.to_string())
}

impl SerialInstrument {
    /// Opens the port and reads identity and limits.
    pub fn open(path: &str, baud: u32, settings: SerialSettings) -> Result<Self, InstrumentError> {
        let link = SerialLink::open(path, baud).map_err(InstrumentError::Io)?;
        Self::over(Box::new(link), settings)
    }

    /// Drives an instrument over any link (a port, or a test's transcript).
    pub fn over(link: Box<dyn Link>, settings: SerialSettings) -> Result<Self, InstrumentError> {
        let mut s = Self {
            link,
            seq: settings.first_seq.unwrap_or_else(random_first_seq).wrapping_sub(1),
            settings,
            identity: None,
            limits: None,
            events: Vec::new(),
            target: None,
            engaged: false,
        };
        let idn = s.identity()?;
        s.identity = Some(idn);
        let lim = s.limits()?;
        super::check::limits(&lim)?;
        s.limits = Some(lim);
        Ok(s)
    }

    fn event(&mut self, kind: EventKind, detail: String) {
        tracing::warn!(%kind, %detail, "link");
        self.events.push(LinkEvent { kind, detail });
    }

    /// Refuses, before anything is written, a request the limits forbid.
    fn check(&self, request: &Request) -> Result<(), InstrumentError> {
        let needs_limits = matches!(request, Request::Move { .. } | Request::Iv { .. });
        let Some(l) = self.limits else {
            return if needs_limits {
                Err(InstrumentError::Limit(format!(
                    "{} before the limits are known",
                    request.name()
                )))
            } else {
                Ok(())
            };
        };
        match *request {
            Request::Move { x_nm, y_nm } => {
                let inside = |v: f64, max: f64| v.is_finite() && (0.0..=max).contains(&v);
                if !inside(x_nm, l.x_max_nm) || !inside(y_nm, l.y_max_nm) {
                    return Err(InstrumentError::Limit(format!(
                        "MOVE to ({x_nm}, {y_nm}) nm is outside the {}×{} nm frame",
                        l.x_max_nm, l.y_max_nm
                    )));
                }
            }
            Request::Iv {
                v_start,
                v_max,
                v_end,
                points,
                dwell_ms,
            } => {
                for v in [v_start, v_max, v_end] {
                    if !v.is_finite() || v.abs() > l.bias_max_v {
                        return Err(InstrumentError::Limit(format!(
                            "IV to {v} V exceeds ±{} V",
                            l.bias_max_v
                        )));
                    }
                }
                if points < 2 || !dwell_ms.is_finite() || dwell_ms <= 0.0 {
                    return Err(InstrumentError::BadArgument(format!(
                        "IV of {points} points at {dwell_ms} ms"
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Sends a request and waits for its reply, resending the same line on a
    /// timeout or a garbled reply and reconnecting if the port went away.
    fn request(&mut self, request: &Request, wait: Duration) -> Result<String, InstrumentError> {
        self.check(request)?;
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let line = frame::encode(seq, &request.body());
        let attempts = self.settings.retries + 1;
        for attempt in 1..=attempts {
            if let Err(e) = self.link.write_line(line.as_bytes()) {
                self.event(
                    EventKind::LinkLost,
                    format!("writing seq {seq} {}: {e}", request.name()),
                );
                self.reconnect()?;
                continue;
            }
            let deadline = Instant::now() + wait;
            let why = loop {
                match self.link.read_line(deadline) {
                    Ok(bytes) => match frame::decode(&bytes) {
                        Ok((s, body)) if s == seq => match Reply::parse(&body) {
                            Some(Reply::Ok(p)) => return Ok(p),
                            Some(Reply::Err {
                                code: ErrCode::BadCrc, ..
                            }) => break "the instrument saw a garbled request".to_string(),
                            Some(Reply::Err { code, message }) => {
                                self.event(
                                    EventKind::InstrumentError,
                                    format!("seq {seq} {}: {} {message}", request.name(), code.as_str()),
                                );
                                return Err(match code {
                                    ErrCode::Limit => InstrumentError::Limit(message),
                                    ErrCode::BadArg | ErrCode::BadCmd => InstrumentError::BadArgument(message),
                                    other => InstrumentError::Refused {
                                        code: other.as_str().to_string(),
                                        message,
                                    },
                                });
                            }
                            None => break format!("unreadable reply body `{body}`"),
                        },
                        // A reply to an earlier request (a late or repeated one): not ours.
                        Ok(_) => continue,
                        Err(FrameError::BadCrc { seq: Some(0) }) => {
                            break "the instrument could not read the request".to_string();
                        }
                        Err(e) => break format!("garbled reply ({e})"),
                    },
                    Err(LinkError::Timeout) => {
                        break format!("no reply within {:.1} s", wait.as_secs_f64());
                    }
                    Err(LinkError::Io(e)) => {
                        self.event(
                            EventKind::LinkLost,
                            format!("reading seq {seq} {}: {e}", request.name()),
                        );
                        self.reconnect()?;
                        break "reconnected".to_string();
                    }
                }
            };
            if attempt < attempts {
                self.event(
                    EventKind::Retry,
                    format!(
                        "seq {seq} {}: {why}; sending again ({}/{})",
                        request.name(),
                        attempt,
                        attempts - 1
                    ),
                );
            } else {
                return Err(lost(format!(
                    "seq {seq} {}: {why}, after {} tries",
                    request.name(),
                    attempts
                )));
            }
        }
        Err(lost(format!(
            "seq {seq} {}: no reply after {attempts} tries",
            request.name()
        )))
    }

    /// Reopens the port with backoff until it answers as the same instrument.
    fn reconnect(&mut self) -> Result<(), InstrumentError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            std::thread::sleep(pause);
            match self.link.reopen() {
                Ok(()) => {
                    self.link.clear_input();
                    let seq = {
                        self.seq = self.seq.wrapping_add(1).max(1);
                        self.seq
                    };
                    let line = frame::encode(seq, &Request::Idn.body());
                    if self.link.write_line(line.as_bytes()).is_ok() {
                        let deadline = Instant::now() + self.settings.timeout;
                        while let Ok(bytes) = self.link.read_line(deadline) {
                            if let Ok((s, body)) = frame::decode(&bytes)
                                && s == seq
                                && let Some(Reply::Ok(p)) = Reply::parse(&body)
                            {
                                let found =
                                    payload::identity(&p).ok_or_else(|| lost(format!("bad *IDN? reply `{p}`")))?;
                                if let Some(expected) = &self.identity
                                    && (&expected.vendor, &expected.model, &expected.serial)
                                        != (&found.vendor, &found.model, &found.serial)
                                {
                                    return Err(InstrumentError::WrongInstrument {
                                        expected: expected.idn(),
                                        found: found.idn(),
                                    });
                                }
                                self.event(
                                    EventKind::Reconnect,
                                    format!(
                                        "{} answers again as {} after {:.1} s",
                                        self.link.label(),
                                        found.idn(),
                                        start.elapsed().as_secs_f64()
                                    ),
                                );
                                return Ok(());
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "reopen failed"),
            }
            if start.elapsed() > self.settings.reconnect_for {
                return Err(lost(format!(
                    "{} did not come back within {} s",
                    self.link.label(),
                    self.settings.reconnect_for.as_secs()
                )));
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Sends a request and takes its reply only if `accept` finds it fits the
    /// request; a reply that does not (a cached reply of another conversation,
    /// a payload of the wrong shape) is an event, and the request goes again
    /// under a new `seq`.
    fn ask<T>(
        &mut self,
        request: &Request,
        wait: Duration,
        accept: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, InstrumentError> {
        let attempts = self.settings.retries + 1;
        let mut why = String::new();
        for attempt in 1..=attempts {
            let payload = self.request(request, wait)?;
            match accept(&payload) {
                Ok(v) => return Ok(v),
                Err(e) => why = e,
            }
            let next = if attempt < attempts {
                format!("asking again under a new seq ({attempt}/{})", attempts - 1)
            } else {
                "giving up".to_string()
            };
            self.event(
                EventKind::BadReply,
                format!("seq {} {}: {why}; {next}", self.seq, request.name()),
            );
        }
        Err(InstrumentError::BadReply(format!(
            "{}: {why} (after {attempts} tries)",
            request.name()
        )))
    }

    /// A request whose reply carries nothing (`ENGAGE`, `WITHDRAW`, `ABORT`).
    fn command(&mut self, request: &Request) -> Result<(), InstrumentError> {
        self.ask(request, self.settings.timeout, |p| {
            if p.is_empty() {
                Ok(())
            } else {
                Err(format!("`{}` answered `{}`", request.name(), short(p)))
            }
        })
    }

    fn moved(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError> {
        self.ask(&Request::Move { x_nm, y_nm }, self.settings.timeout * 5, |p| {
            payload::moved(p)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .ok_or_else(|| format!("`{}` is not a settled position", short(p)))
        })
    }

    /// The instrument forgot it was engaged (it was reset): engage again and put
    /// the tip back where the host had sent it.
    fn recover_engagement(&mut self) -> Result<(), InstrumentError> {
        self.event(
            EventKind::InstrumentReset,
            "the instrument reports the tip is not engaged; engaging again".into(),
        );
        self.command(&Request::Engage)?;
        if let Some((x, y)) = self.target {
            self.moved(x, y)?;
        }
        Ok(())
    }
}

/// A payload cut to a length an event can show.
fn short(p: &str) -> String {
    if p.len() <= 60 {
        p.to_string()
    } else {
        let cut = (0..=60).rev().find(|&k| p.is_char_boundary(k)).unwrap_or(0);
        format!("{}… ({} bytes)", &p[..cut], p.len())
    }
}

impl Instrument for SerialInstrument {
    fn identity(&mut self) -> Result<Identity, InstrumentError> {
        if let Some(i) = &self.identity {
            return Ok(i.clone());
        }
        self.ask(&Request::Idn, self.settings.timeout, |p| {
            payload::identity(p)
                .filter(|i| !i.vendor.is_empty() && !i.model.is_empty())
                .ok_or_else(|| format!("`{}` is not vendor,model,serial,firmware", short(p)))
        })
    }

    fn limits(&mut self) -> Result<Limits, InstrumentError> {
        if let Some(l) = self.limits {
            return Ok(l);
        }
        self.ask(&Request::Lim, self.settings.timeout, |p| {
            let l = payload::limits(p).ok_or_else(|| format!("`{}` is not a LIM? payload", short(p)))?;
            super::check::limits(&l).map_err(|e| e.to_string())?;
            Ok(l)
        })
    }

    fn survey(&mut self, rows: u32, cols: u32) -> Result<Survey, InstrumentError> {
        let mut band = self.settings.band_rows.clamp(1, rows.max(1));
        let mut heights: Option<Array2<f64>> = None;
        let (mut frame_w, mut frame_h, mut total_rows) = (0.0, 0.0, rows);
        let mut row0 = 0;
        let max_pixels = self.settings.max_survey_pixels;
        // Generous: an instrument may image the band while we wait.
        let wait = self.settings.timeout * 10;
        // Every reply moves `row0` on by at least one row or halves the band:
        // an image of R rows takes at most 2R + 32 requests, never more.
        let mut requests_left = 2 * rows.max(1) as u64 + 32;
        while row0 < total_rows {
            if requests_left == 0 {
                return Err(InstrumentError::BadReply(format!(
                    "TOPO?: the image is not complete after {} requests (at row {row0} of {total_rows})",
                    2 * rows.max(1) as u64 + 32
                )));
            }
            requests_left -= 1;
            let nrows = band.min(total_rows - row0);
            let request = Request::Topo {
                rows,
                cols,
                row0,
                nrows,
            };
            let size_known = heights.as_ref().map(|h| (h.nrows() as u32, h.ncols() as u32));
            let accept = |p: &str| -> Result<payload::TopoBand, String> {
                let b = payload::topo(p).ok_or_else(|| format!("`{}` is not a TOPO? band", short(p)))?;
                // The size first: nothing is allocated for an image that cannot fit.
                if (b.rows as u64) * (b.cols as u64) > max_pixels {
                    return Err(format!(
                        "an image of {}×{} px; at most {max_pixels} pixels fit the memory allowed",
                        b.rows, b.cols
                    ));
                }
                if b.row0 != row0 || b.nrows == 0 || b.nrows > nrows {
                    return Err(format!("band {}+{} for the band {row0}+{nrows} asked", b.row0, b.nrows));
                }
                if b.rows == 0 || b.cols == 0 || b.row0.saturating_add(b.nrows) > b.rows {
                    return Err(format!("band {}+{} of a {}×{} image", b.row0, b.nrows, b.rows, b.cols));
                }
                if size_known.is_some_and(|k| k != (b.rows, b.cols)) {
                    return Err("bands of one survey disagree on its size".into());
                }
                if !(b.width_nm.is_finite() && b.width_nm > 0.0 && b.height_nm.is_finite() && b.height_nm > 0.0) {
                    return Err(format!("a frame of {}×{} nm", b.width_nm, b.height_nm));
                }
                Ok(b)
            };
            let b = match self.ask(&request, wait, accept) {
                Ok(b) => b,
                // Too big for one line on this instrument: smaller bands.
                Err(InstrumentError::BadArgument(_)) if band > 1 => {
                    band /= 2;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let img = heights.get_or_insert_with(|| {
                total_rows = b.rows;
                frame_w = b.width_nm;
                frame_h = b.height_nm;
                Array2::zeros((b.rows as usize, b.cols as usize))
            });
            for (k, v) in b.heights_nm.iter().enumerate() {
                img[[(row0 as usize) + k / b.cols as usize, k % b.cols as usize]] = *v as f64;
            }
            row0 += b.nrows;
        }
        let heights_nm = heights.ok_or_else(|| InstrumentError::BadArgument("empty survey".into()))?;
        Ok(Survey {
            width_nm: frame_w,
            height_nm: frame_h,
            heights_nm,
        })
    }

    fn engage(&mut self) -> Result<(), InstrumentError> {
        self.command(&Request::Engage)?;
        self.engaged = true;
        Ok(())
    }

    fn withdraw(&mut self) -> Result<(), InstrumentError> {
        self.command(&Request::Withdraw)?;
        self.engaged = false;
        Ok(())
    }

    fn move_to(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError> {
        let settled = self.moved(x_nm, y_nm)?;
        self.target = Some((x_nm, y_nm));
        Ok(settled)
    }

    fn sweep(&mut self, s: &SweepRequest) -> Result<Sweep, InstrumentError> {
        let request = Request::from(s);
        let wait = Duration::from_secs_f64(s.duration_ms() / 1000.0) + self.settings.sweep_margin;
        let points = s.points as usize;
        let accept = |p: &str| {
            let (end, bias, current) = payload::iv(p).ok_or_else(|| format!("`{}` is not an IV payload", short(p)))?;
            if bias.is_empty() || bias.len() > points {
                return Err(format!("a curve of {} points for the {points} asked", bias.len()));
            }
            Ok((end, bias, current))
        };
        let (end, bias, current) = match self.ask(&request, wait, accept) {
            Err(InstrumentError::Refused { code, .. }) if code == "NOTENGAGED" && self.engaged => {
                self.recover_engagement()?;
                self.ask(&request, wait, accept)?
            }
            other => other?,
        };
        Ok(Sweep {
            bias_v: bias.iter().map(|v| decimal(*v)).collect(),
            current_a: current.iter().map(|v| decimal(*v)).collect(),
            end,
        })
    }

    fn abort(&mut self) -> Result<(), InstrumentError> {
        self.command(&Request::Abort)
    }

    fn drain_link_events(&mut self) -> Vec<LinkEvent> {
        std::mem::take(&mut self.events)
    }

    fn link_label(&self) -> String {
        self.link.label()
    }
}

#[cfg(test)]
mod tests;
