//! One request and its reply: limits checked before anything is written,
//! the same line again after a timeout or a garbled reply, a reopened port
//! after the device went away, and every reply checked against its request
//! (a new `seq` when it does not fit).

use super::SerialInstrument;
use super::link::LinkError;
use super::words::{lost, short};
use crate::instrument::InstrumentError;
use crate::instrument::wire::frame::{self, FrameError};
use crate::instrument::wire::message::{ErrCode, Reply, Request, payload};
use crate::record::{EventKind, LinkEvent};
use std::time::{Duration, Instant};

impl SerialInstrument {
    pub(super) fn event(&mut self, kind: EventKind, detail: String) {
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
    pub(super) fn ask<T>(
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
    pub(super) fn command(&mut self, request: &Request) -> Result<(), InstrumentError> {
        self.ask(request, self.settings.timeout, |p| {
            if p.is_empty() {
                Ok(())
            } else {
                Err(format!("`{}` answered `{}`", request.name(), short(p)))
            }
        })
    }

    pub(super) fn moved(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError> {
        self.ask(&Request::Move { x_nm, y_nm }, self.settings.timeout * 5, |p| {
            payload::moved(p)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .ok_or_else(|| format!("`{}` is not a settled position", short(p)))
        })
    }

    /// The instrument forgot it was engaged (it was reset): engage again and put
    /// the tip back where the host had sent it.
    pub(super) fn recover_engagement(&mut self) -> Result<(), InstrumentError> {
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
