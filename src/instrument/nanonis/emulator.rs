//! An instrument (the simulator, or a replayed dataset) behind the Nanonis
//! TCP interface, behaving as a controller does where dualscope can see it:
//! a scan frame centred away from the piezo origin with y up, its Z channel
//! grabbed in scan order (an upward scan, bottom line first), Follow Me moves
//! in metres, the Bias Spectroscopy module sweeping to its limits and back,
//! its channels named as the module names them, and a controller error (an
//! error section with a description) for what a controller refuses.
//!
//! It is what a user runs to try the Nanonis path without hardware, and what
//! the tests and the vendor's own Python client talk to.

use super::codec::{self, Body};
use super::command::{Buffer, Command, Grab, Spectrum, Version};
use super::geometry::{self, Placement};
use crate::instrument::{Instrument, InstrumentError, SweepRequest};
use crate::record::Survey;

/// The scan buffer's channel indexes: the Current and Z signals of a
/// typical controller's signal list.
pub const CURRENT_CHANNEL: i32 = 0;
pub const Z_CHANNEL: i32 = 30;

/// The Bias Spectroscopy module's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Module {
    start_v: f32,
    end_v: f32,
    points: i32,
    backward: bool,
    settle_s: f32,
    integrate_s: f32,
}

pub struct Emulator<I: Instrument> {
    instrument: I,
    placement: Placement,
    /// The instrument's frame (nm) over the reported one: float32 cannot hold
    /// 500 nm exactly, so frame points are scaled onto the instrument's own.
    scale: (f64, f64),
    rows: u32,
    cols: u32,
    bias_max_v: f64,
    survey: Option<Survey>,
    tip_m: (f64, f64),
    bias_v: f32,
    module: Module,
    /// Commands acted on.
    pub handled: u64,
}

impl<I: Instrument> Emulator<I> {
    /// Serves `instrument` with its frame centred at (`centre_x_m`,
    /// `centre_y_m`) of the piezo range, scanned at `rows` × `cols`.
    pub fn new(mut instrument: I, rows: u32, cols: u32, centre_m: (f64, f64)) -> Result<Self, InstrumentError> {
        let limits = instrument.limits()?;
        // The controller keeps its frame in float32: the frame it works with
        // is exactly the one it reports.
        let f32_of = |v: f64| v as f32 as f64;
        let placement = Placement {
            centre_x_m: f32_of(centre_m.0),
            centre_y_m: f32_of(centre_m.1),
            width_m: f32_of(limits.x_max_nm * 1e-9),
            height_m: f32_of(limits.y_max_nm * 1e-9),
            angle_rad: 0.0,
        };
        Ok(Self {
            tip_m: placement.to_piezo(limits.x_max_nm / 2.0, limits.y_max_nm / 2.0),
            scale: (
                limits.x_max_nm / placement.width_nm(),
                limits.y_max_nm / placement.height_nm(),
            ),
            instrument,
            placement,
            rows,
            cols,
            bias_max_v: limits.bias_max_v,
            survey: None,
            bias_v: 0.0,
            module: Module {
                start_v: -1.0,
                end_v: 1.0,
                points: 256,
                backward: false,
                settle_s: 1e-3,
                integrate_s: 1e-3,
            },
            handled: 0,
        })
    }

    /// The frame as the controller reports it.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The whole reply (header and body) to one request.
    pub fn handle(&mut self, name: &str, body: &[u8]) -> Vec<u8> {
        let (values, error) = match Command::parse(name, body) {
            Ok(Some(cmd)) => {
                self.handled += 1;
                match self.act(&cmd) {
                    Ok(values) => (values, None),
                    Err(e) => (Body::new(), Some(e)),
                }
            }
            Ok(None) => (Body::new(), Some(format!("unknown command {name}"))),
            Err(e) => (Body::new(), Some(format!("{name}: {e}"))),
        };
        let body = values.error_section(error.as_deref());
        // A name the codec refuses was never a command; answer under a safe one.
        codec::reply(name, &body).unwrap_or_else(|_| {
            codec::reply("Unknown", &Body::new().error_section(Some("bad command name"))).expect("a valid name")
        })
    }

    /// An error reply as a controller fault would send it (for the fault
    /// emulation: the command is not acted on).
    pub fn fault(&self, name: &str, text: &str) -> Vec<u8> {
        let body = Body::new().error_section(Some(text));
        codec::reply(name, &body).unwrap_or_default()
    }

    fn survey(&mut self) -> Result<&Survey, String> {
        if self.survey.is_none() {
            let s = self
                .instrument
                .survey(self.rows, self.cols)
                .map_err(|e| e.to_string())?;
            self.survey = Some(s);
        }
        Ok(self.survey.as_ref().expect("taken above"))
    }

    fn act(&mut self, cmd: &Command) -> Result<Body, String> {
        let b = Body::new();
        let err = |e: InstrumentError| e.to_string();
        Ok(match *cmd {
            Command::UtilVersionGet => Version {
                product: "Nanonis SPM Control Software (dualscope emulator)".into(),
                version: "Generic 5".into(),
                host_release: 13520,
                rt_release: 13520,
            }
            .write(b),
            Command::ScanFrameGet => self.placement.frame().write(b),
            Command::ScanBufferGet => {
                let (rows, cols) = match &self.survey {
                    Some(s) => (s.rows(), s.cols()),
                    None => (self.rows, self.cols),
                };
                Buffer {
                    channels: vec![CURRENT_CHANNEL, Z_CHANNEL],
                    pixels: cols as i32,
                    lines: rows as i32,
                }
                .write(b)
            }
            Command::ScanFrameDataGrab { channel, forward } => {
                let s = self.survey()?;
                let g = match channel as i32 {
                    Z_CHANNEL => geometry::grab_of("Z (m)", &s.heights_nm, true),
                    // No current flows while the tip scans the topography.
                    CURRENT_CHANNEL => {
                        geometry::grab_of("Current (A)", &ndarray::Array2::zeros(s.heights_nm.dim()), true)
                    }
                    other => return Err(format!("channel {other} is not in the scan buffer")),
                };
                let g = if forward { g } else { mirrored(g) };
                g.write(b)
            }
            Command::FolMeXyPosSet { x_m, y_m, .. } => {
                // The emulated stage resolves 1e-6 nm: a point computed from
                // the reported frame lands on the instrument's own number.
                let snap = |v: f64| (v * 1e6).round() / 1e6;
                let (x, y) = self.placement.to_frame(x_m, y_m);
                let (x, y) = (snap(x * self.scale.0), snap(y * self.scale.1));
                let (sx, sy) = self.instrument.move_to(x, y).map_err(err)?;
                self.tip_m = self.placement.to_piezo(sx / self.scale.0, sy / self.scale.1);
                b
            }
            Command::FolMeXyPosGet { .. } => b.f64(self.tip_m.0).f64(self.tip_m.1),
            Command::BiasSpectrOpen => b,
            Command::BiasSpectrLimitsSet { start_v, end_v } => {
                for v in [start_v, end_v] {
                    if !(v.is_finite() && (v as f64).abs() <= self.bias_max_v) {
                        return Err(format!("Bias value {v} V out of range (±{} V)", self.bias_max_v));
                    }
                }
                self.module.start_v = start_v;
                self.module.end_v = end_v;
                b
            }
            Command::BiasSpectrPropsSet { backward, points, .. } => {
                if points < 0 {
                    return Err(format!("number of points {points}"));
                }
                if points > 0 {
                    self.module.points = points;
                }
                if backward != 0 {
                    self.module.backward = backward == 1;
                }
                b
            }
            Command::BiasSpectrTimingSet { values } => {
                let keep = |new: f32, old: f32| if new.is_nan() { old } else { new };
                self.module.settle_s = keep(values[4], self.module.settle_s);
                self.module.integrate_s = keep(values[5], self.module.integrate_s);
                b
            }
            Command::BiasSpectrStart { get_data, .. } => {
                let sp = self.sweep()?;
                if get_data {
                    sp.write(b)
                } else {
                    Spectrum {
                        data: vec![],
                        rows: 0,
                        cols: 0,
                        ..sp
                    }
                    .write(b)
                }
            }
            Command::BiasSpectrStop => b,
            Command::BiasSpectrStatusGet => b.u32(0),
            Command::BiasSet { bias_v } => {
                if !(bias_v.is_finite() && (bias_v as f64).abs() <= self.bias_max_v) {
                    return Err(format!("Bias value {bias_v} V out of range (±{} V)", self.bias_max_v));
                }
                self.bias_v = bias_v;
                b
            }
            Command::ZCtrlOnOffSet { on } => {
                if on {
                    self.instrument.engage().map_err(err)?;
                } else {
                    self.instrument.withdraw().map_err(err)?;
                }
                b
            }
            Command::ZCtrlWithdraw { .. } => {
                self.instrument.withdraw().map_err(err)?;
                b
            }
        })
    }

    /// One sweep of the module as it is set up: to the end bias and back,
    /// the backward row aligned with the forward biases, as the module's data
    /// come.
    fn sweep(&mut self) -> Result<Spectrum, String> {
        let m = self.module;
        if !m.backward {
            return Err("dualscope's emulator sweeps with the backward sweep on only".into());
        }
        let n = m.points.max(2) as usize;
        let request = SweepRequest {
            v_start: m.start_v as f64,
            v_max: m.end_v as f64,
            v_end: m.start_v as f64,
            points: (2 * n - 1) as u32,
            dwell_ms: ((m.settle_s + m.integrate_s) as f64 * 1e3).max(0.01),
        };
        let s = self.instrument.sweep(&request).map_err(|e| e.to_string())?;
        if s.current_a.len() != 2 * n - 1 {
            return Err(format!(
                "the instrument returned {} of {} points",
                s.current_a.len(),
                2 * n - 1
            ));
        }
        let forward: Vec<f32> = s.current_a[..n].iter().map(|v| *v as f32).collect();
        let bias: Vec<f32> = s.bias_v[..n].iter().map(|v| *v as f32).collect();
        // Backward point j (at bias j) was taken at time 2n − 2 − j; the top
        // point is the turn of the sweep.
        let backward: Vec<f32> = (0..n).map(|j| s.current_a[2 * n - 2 - j] as f32).collect();
        let mut data = bias;
        data.extend(forward);
        data.extend(backward);
        Ok(Spectrum {
            names: vec!["Bias calc (V)".into(), "Current (A)".into(), "Current [bwd] (A)".into()],
            rows: 3,
            cols: n,
            data,
            parameters: vec![0.0; 4],
        })
    }
}

/// A grab's backward data: each line scanned right to left.
fn mirrored(mut g: Grab) -> Grab {
    for row in g.data.chunks_mut(g.cols.max(1)) {
        row.reverse();
    }
    g
}
