//! A SPECS Nanonis controller as an [`Instrument`], over its TCP Programming
//! Interface (default port 6501): the survey from the scan frame's Z channel,
//! moves by Follow Me (the settled position read back), sweeps by the Bias
//! Spectroscopy module (the curve's channels found by name), abort by
//! stopping the sweep, bias to 0 V and withdrawing the tip.
//!
//! Nanonis reports no compliance or bias limit: the plan's `[safety]` limits
//! are the limits, every request is checked against them before it is
//! written, and a current above compliance in a returned curve ends the
//! curve's use there (`compliance`) and ramps the bias to 0 V.
//!
//! Rooms: `codec` (the message format), `command` (the subset as values),
//! `geometry` (frame and image conversions), `transport` (TCP), `exchange`
//! (one command and its reply, with reconnects), `emulator` and `serve` (the
//! simulator as a Nanonis controller, for trying this without hardware).

pub mod codec;
pub mod command;
pub mod emulator;
mod exchange;
pub mod geometry;
pub mod serve;
pub mod transport;

use super::{Instrument, InstrumentError, SweepRequest};
use crate::record::{Identity, Limits, LinkEvent, Survey, Sweep, SweepEnd};
use command::{Buffer, Command, Frame, Grab, Spectrum, Version};
use geometry::Placement;
use std::time::Duration;
use transport::{Tcp, Transport};

/// Link and safety settings, from the plan's `[nanonis]` and `[safety]`.
#[derive(Debug, Clone, PartialEq)]
pub struct NanonisSettings {
    pub timeout: Duration,
    /// Added to the sweep's own duration when waiting for `BiasSpectr.Start`.
    pub sweep_margin: Duration,
    pub retries: u32,
    pub reconnect_for: Duration,
    /// The scan buffer's channel index of Z; `None` finds it by name.
    pub z_channel: Option<u32>,
    pub bias_max_v: f64,
    pub current_max_a: f64,
    /// Largest survey image (pixels) a grab may hold.
    pub max_survey_pixels: u64,
}

impl NanonisSettings {
    pub fn from_plan(plan: &crate::plan::SessionPlan) -> Self {
        let n = &plan.nanonis;
        Self {
            timeout: Duration::from_millis(n.timeout_ms),
            sweep_margin: Duration::from_millis(n.sweep_margin_ms),
            retries: n.retries,
            reconnect_for: Duration::from_secs(n.reconnect_s),
            z_channel: n.z_channel,
            bias_max_v: plan.safety.bias_max_v,
            current_max_a: plan.safety.current_max_a,
            max_survey_pixels: crate::plan::memory::max_survey_pixels(plan),
        }
    }
}

pub struct NanonisInstrument {
    transport: Box<dyn Transport>,
    settings: NanonisSettings,
    placement: Option<Placement>,
    identity: Identity,
    events: Vec<LinkEvent>,
    /// The sweep the module is set up for, so it is set up once, not per curve.
    configured: Option<SweepRequest>,
}

/// The f64 nearest the shortest decimal that reads back as this f32 (as the
/// serial driver keeps the numbers the controller meant).
fn decimal(v: f32) -> f64 {
    crate::instrument::serial::decimal(v)
}

impl NanonisInstrument {
    /// Connects to `host:port`, reads the identity and the scan frame.
    pub fn open(address: &str, settings: NanonisSettings) -> Result<Self, InstrumentError> {
        let mut transport = Tcp::new(address);
        transport.open().map_err(|e| {
            InstrumentError::LinkLost(format!(
                "cannot reach a Nanonis controller at {address}: {e} (is its TCP interface on, at that port?)"
            ))
        })?;
        Self::over(Box::new(transport), settings)
    }

    /// Drives a controller over any transport (TCP, or a test's capture).
    pub fn over(transport: Box<dyn Transport>, settings: NanonisSettings) -> Result<Self, InstrumentError> {
        let mut s = Self {
            transport,
            settings,
            placement: None,
            identity: Identity {
                vendor: "SPECS".into(),
                model: "Nanonis".into(),
                serial: "unknown".into(),
                firmware: "unknown".into(),
            },
            events: Vec::new(),
            configured: None,
        };
        // Older controllers lack Util.VersionGet: the identity stays generic.
        if let Ok(v) = s.call(&Command::UtilVersionGet, s.settings.timeout, Version::read) {
            s.identity.model = v.product.replace(',', ";");
            s.identity.firmware =
                format!("{} host R{} RT R{}", v.version, v.host_release, v.rt_release).replace(',', ";");
        }
        let frame = s.call(&Command::ScanFrameGet, s.settings.timeout, Frame::read)?;
        let placement = Placement::of(&frame);
        if !placement.is_real() {
            return Err(InstrumentError::BadReply(format!(
                "Scan.FrameGet: a frame of {frame:?}"
            )));
        }
        s.placement = Some(placement);
        Ok(s)
    }

    fn placement(&self) -> Placement {
        self.placement.expect("read at connect")
    }

    /// Sets the Bias Spectroscopy module up for `s`: a sweep from `v_start`
    /// to `v_max` of the up branch's points, and back (Nanonis sweeps back
    /// over the same points), each point settled and integrated for half its
    /// dwell.
    fn configure(&mut self, s: &SweepRequest) -> Result<usize, InstrumentError> {
        let forward = s.turn_index() + 1;
        if s.v_end != s.v_start || s.points as usize != 2 * forward - 1 {
            return Err(InstrumentError::BadArgument(format!(
                "Nanonis sweeps back to where it started over the same points: v_end must equal v_start \
                 ({} ≠ {}) and points be odd ({})",
                s.v_end, s.v_start, s.points
            )));
        }
        if self.configured.as_ref() == Some(s) {
            return Ok(forward);
        }
        let t = self.settings.timeout;
        let half_dwell_s = (s.dwell_ms * 0.5e-3) as f32;
        self.call(&Command::BiasSpectrOpen, t, |_| Ok(()))?;
        self.call(
            &Command::BiasSpectrLimitsSet {
                start_v: s.v_start as f32,
                end_v: s.v_max as f32,
            },
            t,
            |_| Ok(()),
        )?;
        self.call(
            &Command::BiasSpectrPropsSet {
                save_all: 2,
                sweeps: 1,
                backward: 1,
                points: forward as i32,
                z_offset_m: f32::NAN,
                autosave: 2,
                show_dialog: 2,
            },
            t,
            |_| Ok(()),
        )?;
        let keep = f32::NAN;
        self.call(
            &Command::BiasSpectrTimingSet {
                values: [keep, keep, keep, keep, half_dwell_s, half_dwell_s, keep, keep],
            },
            t,
            |_| Ok(()),
        )?;
        self.configured = Some(*s);
        Ok(forward)
    }

    /// The curve in the order it was swept: the forward row, then the
    /// backward one (which Nanonis aligns with the forward biases) from the
    /// top of the sweep down, its repeated top point left out.
    fn curve_of(&self, sp: &Spectrum, forward: usize) -> Result<(Vec<f32>, Vec<f32>), InstrumentError> {
        let bad = |why: String| InstrumentError::BadReply(format!("BiasSpectr.Start: {why}"));
        let names = sp.names.join(", ");
        let bias = sp
            .channel("Bias", false)
            .ok_or_else(|| bad(format!("no bias channel among {names}")))?;
        let current = sp.channel("Current", false).ok_or_else(|| {
            bad(format!(
                "no current channel among {names} (record `Current` in the Bias Spectroscopy module)"
            ))
        })?;
        let back = sp.channel("Current", true).ok_or_else(|| {
            bad(format!(
                "no backward current among {names} (switch the backward sweep on)"
            ))
        })?;
        if sp.cols != forward {
            return Err(bad(format!("{} points per row for the {forward} set", sp.cols)));
        }
        let back_bias: Vec<f32> = sp
            .channel("Bias", true)
            .map(|b| b.to_vec())
            .unwrap_or_else(|| bias.to_vec());
        let mut b: Vec<f32> = bias.to_vec();
        let mut i: Vec<f32> = current.to_vec();
        b.extend(back_bias.iter().rev().skip(1));
        i.extend(back.iter().rev().skip(1));
        Ok((b, i))
    }
}

impl Instrument for NanonisInstrument {
    fn identity(&mut self) -> Result<Identity, InstrumentError> {
        Ok(self.identity.clone())
    }

    fn limits(&mut self) -> Result<Limits, InstrumentError> {
        let p = self.placement();
        Ok(Limits {
            bias_max_v: self.settings.bias_max_v,
            current_max_a: self.settings.current_max_a,
            x_max_nm: p.width_nm(),
            y_max_nm: p.height_nm(),
        })
    }

    /// The scan frame's Z channel as the controller last scanned it, at its
    /// own resolution (`rows`, `cols` are what the plan asked for; the
    /// controller's buffer decides).
    fn survey(&mut self, _rows: u32, _cols: u32) -> Result<Survey, InstrumentError> {
        let t = self.settings.timeout * 10;
        let buffer = self.call(&Command::ScanBufferGet, self.settings.timeout, Buffer::read)?;
        let channels: Vec<u32> = match self.settings.z_channel {
            Some(z) => vec![z],
            None => buffer.channels.iter().map(|&c| c as u32).collect(),
        };
        let max = self.settings.max_survey_pixels;
        let read = |c: &mut codec::Cursor| {
            let g = Grab::read(c)?;
            if (g.rows as u64) * (g.cols as u64) > max {
                return Err(codec::CodecError::Short(format!(
                    "a {}×{} image, over the memory allowed",
                    g.rows, g.cols
                )));
            }
            Ok(g)
        };
        for channel in channels {
            let g = self.call(&Command::ScanFrameDataGrab { channel, forward: true }, t, read)?;
            if g.channel.trim_start().starts_with('Z') {
                let p = self.placement();
                return Ok(Survey {
                    width_nm: p.width_nm(),
                    height_nm: p.height_nm(),
                    heights_nm: geometry::heights_nm(&g),
                });
            }
        }
        Err(InstrumentError::BadArgument(format!(
            "no Z channel in the scan buffer (channels {:?}); record Z, or set nanonis.z_channel",
            buffer.channels
        )))
    }

    fn engage(&mut self) -> Result<(), InstrumentError> {
        self.call(&Command::ZCtrlOnOffSet { on: true }, self.settings.timeout, |_| Ok(()))
    }

    fn withdraw(&mut self) -> Result<(), InstrumentError> {
        let timeout_ms = self.settings.timeout.as_millis() as i32;
        self.call(
            &Command::ZCtrlWithdraw { wait: true, timeout_ms },
            self.settings.timeout * 2,
            |_| Ok(()),
        )
    }

    fn move_to(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError> {
        let (x_m, y_m) = self.placement().to_piezo(x_nm, y_nm);
        self.call(
            &Command::FolMeXyPosSet { x_m, y_m, wait: true },
            self.settings.timeout * 5,
            |_| Ok(()),
        )?;
        let (sx, sy) = self.call(
            &Command::FolMeXyPosGet { wait_newest: true },
            self.settings.timeout,
            |c| Ok((c.f64()?, c.f64()?)),
        )?;
        Ok(self.placement().to_frame(sx, sy))
    }

    fn sweep(&mut self, s: &SweepRequest) -> Result<Sweep, InstrumentError> {
        let forward = self.configure(s)?;
        let wait = Duration::from_secs_f64(s.duration_ms() / 1000.0) + self.settings.sweep_margin;
        let start = Command::BiasSpectrStart {
            get_data: true,
            base_name: String::new(),
        };
        let sp = self.call(&start, wait, Spectrum::read)?;
        let (bias, current) = self.curve_of(&sp, forward)?;
        // No compliance on the controller: the curve ends where it first
        // passes the plan's, and the bias goes back to 0 V.
        let cut = current
            .iter()
            .position(|i| (*i as f64).abs() > self.settings.current_max_a);
        let (n, end) = match cut {
            Some(k) => (k + 1, SweepEnd::Compliance),
            None => (bias.len(), SweepEnd::Complete),
        };
        if end == SweepEnd::Compliance {
            self.call(&Command::BiasSet { bias_v: 0.0 }, self.settings.timeout, |_| Ok(()))?;
        }
        Ok(Sweep {
            bias_v: bias[..n].iter().map(|v| decimal(*v)).collect(),
            current_a: current[..n].iter().map(|v| decimal(*v)).collect(),
            end,
        })
    }

    fn abort(&mut self) -> Result<(), InstrumentError> {
        let t = self.settings.timeout;
        let stopped = self.call(&Command::BiasSpectrStop, t, |_| Ok(()));
        let zero = self.call(&Command::BiasSet { bias_v: 0.0 }, t, |_| Ok(()));
        let withdrawn = self.withdraw();
        stopped.and(zero).and(withdrawn)
    }

    fn drain_link_events(&mut self) -> Vec<LinkEvent> {
        std::mem::take(&mut self.events)
    }

    fn link_label(&self) -> String {
        self.transport.label()
    }
}

#[cfg(test)]
mod tests;
