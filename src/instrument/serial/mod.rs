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

mod exchange;
pub mod link;
mod words;

use super::wire::message::{Request, payload};
use super::{Instrument, InstrumentError, SweepRequest};
use crate::record::{Identity, Limits, LinkEvent, Survey, Sweep};
use link::{Link, SerialLink};
use ndarray::Array2;
use std::time::Duration;
use words::short;

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
