//! The host side of `dualscope-wire/1`: an [`Instrument`] that drives a
//! microscope (or a bridge in front of the vendor's API) over a serial line.
//!
//! Every request gets a fresh `seq`; a timeout or a garbled line sends the very
//! same line again (the instrument answers a repeated `seq` from its cache and
//! does not act twice). A port that disappears is reopened with backoff and the
//! instrument must answer `*IDN?` as before. No request outside the limits read
//! with `LIM?` is ever written.

pub mod link;

use super::wire::frame::{self, FrameError};
use super::wire::message::{ErrCode, Reply, Request, payload};
use super::{Identity, Instrument, InstrumentError, Limits, LinkEvent, Survey, Sweep, SweepRequest};
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
}

impl SerialSettings {
    pub fn from_plan(plan: &crate::plan::SerialPlan) -> Self {
        Self {
            timeout: Duration::from_millis(plan.timeout_ms),
            sweep_margin: Duration::from_millis(plan.sweep_margin_ms),
            retries: plan.retries,
            reconnect_for: Duration::from_secs(plan.reconnect_s),
            band_rows: plan.band_rows,
        }
    }
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
            settings,
            seq: 0,
            identity: None,
            limits: None,
            events: Vec::new(),
            target: None,
            engaged: false,
        };
        let idn = s.identity()?;
        s.identity = Some(idn);
        let lim = s.limits()?;
        s.limits = Some(lim);
        Ok(s)
    }

    fn event(&mut self, kind: &str, detail: String) {
        tracing::warn!(kind, %detail, "link");
        self.events.push(LinkEvent {
            kind: kind.into(),
            detail,
        });
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
                self.event("link_lost", format!("writing seq {seq} {}: {e}", request.name()));
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
                                    "instrument_error",
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
                        self.event("link_lost", format!("reading seq {seq} {}: {e}", request.name()));
                        self.reconnect()?;
                        break "reconnected".to_string();
                    }
                }
            };
            if attempt < attempts {
                self.event(
                    "retry",
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
                                    "reconnect",
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

    /// The instrument forgot it was engaged (it was reset): engage again and put
    /// the tip back where the host had sent it.
    fn recover_engagement(&mut self) -> Result<(), InstrumentError> {
        self.event(
            "instrument_reset",
            "the instrument reports the tip is not engaged; engaging again".into(),
        );
        self.request(&Request::Engage, self.settings.timeout)?;
        if let Some((x, y)) = self.target {
            self.request(&Request::Move { x_nm: x, y_nm: y }, self.settings.timeout)?;
        }
        Ok(())
    }
}

impl Instrument for SerialInstrument {
    fn identity(&mut self) -> Result<Identity, InstrumentError> {
        if let Some(i) = &self.identity {
            return Ok(i.clone());
        }
        let p = self.request(&Request::Idn, self.settings.timeout)?;
        payload::identity(&p).ok_or_else(|| lost(format!("bad *IDN? reply `{p}`")))
    }

    fn limits(&mut self) -> Result<Limits, InstrumentError> {
        if let Some(l) = self.limits {
            return Ok(l);
        }
        let p = self.request(&Request::Lim, self.settings.timeout)?;
        payload::limits(&p).ok_or_else(|| lost(format!("bad LIM? reply `{p}`")))
    }

    fn survey(&mut self, rows: u32, cols: u32) -> Result<Survey, InstrumentError> {
        let mut band = self.settings.band_rows.clamp(1, rows.max(1));
        let mut heights: Option<Array2<f64>> = None;
        let (mut frame_w, mut frame_h, mut total_rows) = (0.0, 0.0, rows);
        let mut row0 = 0;
        // Generous: an instrument may image the band while we wait.
        let wait = self.settings.timeout * 10;
        while row0 < total_rows {
            let nrows = band.min(total_rows - row0);
            let request = Request::Topo {
                rows,
                cols,
                row0,
                nrows,
            };
            let p = match self.request(&request, wait) {
                Ok(p) => p,
                // Too big for one line on this instrument: smaller bands.
                Err(InstrumentError::BadArgument(_)) if band > 1 => {
                    band /= 2;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let b = payload::topo(&p).ok_or_else(|| lost("bad TOPO? reply"))?;
            if b.row0 != row0 {
                return Err(lost(format!("TOPO? band starts at row {} instead of {row0}", b.row0)));
            }
            let img = heights.get_or_insert_with(|| {
                total_rows = b.rows;
                frame_w = b.width_nm;
                frame_h = b.height_nm;
                Array2::zeros((b.rows as usize, b.cols as usize))
            });
            if img.dim() != (b.rows as usize, b.cols as usize) {
                return Err(lost("TOPO? bands of one survey disagree on its size"));
            }
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
        self.request(&Request::Engage, self.settings.timeout)?;
        self.engaged = true;
        Ok(())
    }

    fn withdraw(&mut self) -> Result<(), InstrumentError> {
        self.request(&Request::Withdraw, self.settings.timeout)?;
        self.engaged = false;
        Ok(())
    }

    fn move_to(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError> {
        let p = self.request(&Request::Move { x_nm, y_nm }, self.settings.timeout * 5)?;
        self.target = Some((x_nm, y_nm));
        payload::moved(&p).ok_or_else(|| lost(format!("bad MOVE reply `{p}`")))
    }

    fn sweep(&mut self, s: &SweepRequest) -> Result<Sweep, InstrumentError> {
        let request = Request::from(s);
        let wait = Duration::from_secs_f64(s.duration_ms() / 1000.0) + self.settings.sweep_margin;
        let p = match self.request(&request, wait) {
            Err(InstrumentError::Refused { code, .. }) if code == "NOTENGAGED" && self.engaged => {
                self.recover_engagement()?;
                self.request(&request, wait)?
            }
            other => other?,
        };
        let (end, bias, current) = payload::iv(&p).ok_or_else(|| lost("bad IV reply"))?;
        Ok(Sweep {
            bias_v: bias.iter().map(|v| decimal(*v)).collect(),
            current_a: current.iter().map(|v| decimal(*v)).collect(),
            end,
        })
    }

    fn abort(&mut self) -> Result<(), InstrumentError> {
        self.request(&Request::Abort, self.settings.timeout).map(|_| ())
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
