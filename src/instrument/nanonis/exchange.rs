//! One command and its reply on the Nanonis link: the plan's limits checked
//! before a byte is written, the reply's header checked against the command,
//! its values read, its error section believed; a dropped connection or a
//! reply that never came reconnects with backoff and asks again — except a
//! sweep, which is asked again only once the controller says none runs.

use super::NanonisInstrument;
use super::codec::{self, Cursor, HEADER};
use super::command::Command;
use crate::instrument::InstrumentError;
use crate::record::{EventKind, LinkEvent};
use std::time::{Duration, Instant};

/// Why one exchange did not give a reply body.
enum Fault {
    /// The connection dropped or the reply did not come: the stream's state
    /// is unknown, so it is closed and opened again.
    Link(String),
    /// A reply that is not this command's.
    Garbled(String),
}

impl NanonisInstrument {
    pub(super) fn event(&mut self, kind: EventKind, detail: String) {
        tracing::warn!(%kind, %detail, "nanonis");
        self.events.push(LinkEvent { kind, detail });
    }

    /// Refuses, before anything is written, a command the plan's limits forbid:
    /// Nanonis reports no limits of its own, so the plan's are the limits.
    fn check(&self, cmd: &Command) -> Result<(), InstrumentError> {
        let bias_ok = |v: f32| v.is_finite() && (v as f64).abs() <= self.settings.bias_max_v;
        match *cmd {
            Command::BiasSet { bias_v } if !bias_ok(bias_v) => Err(InstrumentError::Limit(format!(
                "Bias.Set {bias_v} V beyond ±{} V",
                self.settings.bias_max_v
            ))),
            Command::BiasSpectrLimitsSet { start_v, end_v } if !bias_ok(start_v) || !bias_ok(end_v) => {
                Err(InstrumentError::Limit(format!(
                    "a sweep {start_v} → {end_v} V beyond ±{} V",
                    self.settings.bias_max_v
                )))
            }
            Command::FolMeXyPosSet { x_m, y_m, .. } => {
                let p = self
                    .placement
                    .ok_or_else(|| InstrumentError::Limit("a move before the frame is known".into()))?;
                let (x, y) = p.to_frame(x_m, y_m);
                let inside = |v: f64, max: f64| v.is_finite() && (-1e-6 * max..=max * (1.0 + 1e-6)).contains(&v);
                if inside(x, p.width_nm()) && inside(y, p.height_nm()) {
                    Ok(())
                } else {
                    Err(InstrumentError::Limit(format!(
                        "FolMe.XYPosSet to ({x:.1}, {y:.1}) nm of the frame, outside its {:.1}×{:.1} nm",
                        p.width_nm(),
                        p.height_nm()
                    )))
                }
            }
            _ => Ok(()),
        }
    }

    /// Writes the command and reads its reply body.
    fn exchange(&mut self, cmd: &Command, wait: Duration) -> Result<Vec<u8>, Fault> {
        let bytes = codec::request(cmd.name(), &cmd.body()).map_err(|e| Fault::Garbled(e.to_string()))?;
        self.transport
            .write_all(&bytes)
            .map_err(|e| Fault::Link(format!("writing {}: {e}", cmd.name())))?;
        let deadline = Instant::now() + wait;
        let mut head = [0u8; HEADER];
        self.transport
            .read_exact(&mut head, deadline)
            .map_err(|e| Fault::Link(format!("{} waiting for its reply: {e}", cmd.name())))?;
        let header = codec::parse_header(&head).map_err(|e| Fault::Link(e.to_string()))?;
        let mut body = vec![0u8; header.body_len];
        self.transport
            .read_exact(&mut body, deadline)
            .map_err(|e| Fault::Link(format!("{} reading its reply: {e}", cmd.name())))?;
        if header.name != cmd.name() {
            return Err(Fault::Garbled(
                codec::CodecError::WrongCommand {
                    asked: cmd.name().into(),
                    got: header.name,
                }
                .to_string(),
            ));
        }
        Ok(body)
    }

    /// Sends `cmd` and reads its reply with `read`; every fault of the link is
    /// an event, and tries are bounded.
    pub(super) fn call<T>(
        &mut self,
        cmd: &Command,
        wait: Duration,
        read: impl Fn(&mut Cursor) -> Result<T, codec::CodecError>,
    ) -> Result<T, InstrumentError> {
        self.check(cmd)?;
        let attempts = self.settings.retries + 1;
        let mut why = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 && matches!(cmd, Command::BiasSpectrStart { .. }) {
                // The reply of a sweep was lost: a sweep may still be running.
                self.await_idle_spectroscopy(wait)?;
            }
            match self.exchange(cmd, wait) {
                Ok(body) => match self.read_reply(cmd, &body, &read) {
                    Err(InstrumentError::Refused { message, .. }) if cmd.retry_refused() && attempt < attempts => {
                        // Asked again under the same connection: the stream is in step.
                        why = message;
                        continue;
                    }
                    other => return other,
                },
                Err(Fault::Link(e)) | Err(Fault::Garbled(e)) => why = e,
            }
            self.event(
                EventKind::LinkLost,
                format!("{why}; reconnecting ({attempt}/{attempts})"),
            );
            self.reconnect()?;
        }
        Err(InstrumentError::LinkLost(format!(
            "{}: {why}, after {attempts} tries",
            cmd.name()
        )))
    }

    fn read_reply<T>(
        &mut self,
        cmd: &Command,
        body: &[u8],
        read: &impl Fn(&mut Cursor) -> Result<T, codec::CodecError>,
    ) -> Result<T, InstrumentError> {
        let mut c = Cursor::new(body);
        let parsed = read(&mut c);
        // An error reply may leave its values out (then what was read as
        // values was the error section): find the error section from the end.
        let error = match &parsed {
            Ok(_) => c.error_section().or_else(|e| codec::error_from_end(body).ok_or(e)),
            Err(e) => codec::error_from_end(body).ok_or_else(|| e.clone()),
        };
        match (parsed, error) {
            (Ok(v), Ok(None)) => Ok(v),
            (_, Ok(Some(message))) => {
                self.event(EventKind::InstrumentError, format!("{}: {message}", cmd.name()));
                Err(InstrumentError::Refused {
                    code: "NANONIS".into(),
                    message: format!("{}: {message}", cmd.name()),
                })
            }
            (_, Err(e)) | (Err(e), _) => {
                let detail = format!("{}: {e}", cmd.name());
                self.event(EventKind::BadReply, detail.clone());
                Err(InstrumentError::BadReply(detail))
            }
        }
    }

    /// Before a sweep is asked again: wait (bounded) until the controller says
    /// none is running, so one curve is never swept twice at once.
    fn await_idle_spectroscopy(&mut self, wait: Duration) -> Result<(), InstrumentError> {
        let until = Instant::now() + wait * 2;
        loop {
            let running = self.call(&Command::BiasSpectrStatusGet, self.settings.timeout, |c| c.u32())?;
            if running == 0 {
                self.event(
                    EventKind::Retry,
                    "BiasSpectr.Start: its reply was lost and no sweep runs now; sweeping again".into(),
                );
                return Ok(());
            }
            if Instant::now() > until {
                let _ = self.call(&Command::BiasSpectrStop, self.settings.timeout, |_| Ok(()));
                return Err(InstrumentError::SweepFailed(
                    "a sweep whose reply was lost is still running; it was stopped".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Opens the connection again with backoff, for as long as the plan allows.
    pub(super) fn reconnect(&mut self) -> Result<(), InstrumentError> {
        self.transport.close();
        let start = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            std::thread::sleep(pause);
            match self.transport.open() {
                Ok(()) => {
                    self.event(
                        EventKind::Reconnect,
                        format!(
                            "{} answers again after {:.1} s",
                            self.transport.label(),
                            start.elapsed().as_secs_f64()
                        ),
                    );
                    return Ok(());
                }
                Err(e) => tracing::debug!(error = %e, "reconnect failed"),
            }
            if start.elapsed() > self.settings.reconnect_for {
                return Err(InstrumentError::LinkLost(format!(
                    "{} did not come back within {} s",
                    self.transport.label(),
                    self.settings.reconnect_for.as_secs()
                )));
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
}
