//! The subset of Nanonis commands dualscope sends, and the replies it reads,
//! as values: each one knows its name, how its body is laid out, and how to
//! read itself back (the host writes requests and reads replies, the emulator
//! the other way round, through the same code).

use super::codec::{Body, CodecError, Cursor};

/// A request to the controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `Bias.Set`: the bias (V).
    BiasSet { bias_v: f32 },
    /// `Scan.FrameGet`: centre, size and angle of the scan frame.
    ScanFrameGet,
    /// `Scan.BufferGet`: the channels recorded, pixels per line and lines.
    ScanBufferGet,
    /// `Scan.FrameDataGrab`: one channel of the scan frame, forward or backward.
    ScanFrameDataGrab { channel: u32, forward: bool },
    /// `FolMe.XYPosSet`: move the tip (m), waiting for the end of the move.
    FolMeXyPosSet { x_m: f64, y_m: f64, wait: bool },
    /// `FolMe.XYPosGet`: where the tip is (m).
    FolMeXyPosGet { wait_newest: bool },
    /// `BiasSpectr.Open`: open the Bias Spectroscopy module.
    BiasSpectrOpen,
    /// `BiasSpectr.LimitsSet`: the sweep's start and end bias (V).
    BiasSpectrLimitsSet { start_v: f32, end_v: f32 },
    /// `BiasSpectr.PropsSet`: 0 of a field means "no change" on the controller.
    BiasSpectrPropsSet {
        save_all: u16,
        sweeps: i32,
        /// 1: sweep back as well; 2: do not; 0: no change.
        backward: u16,
        points: i32,
        /// NaN: no change.
        z_offset_m: f32,
        autosave: u16,
        show_dialog: u16,
    },
    /// `BiasSpectr.TimingSet`: z averaging, z offset, initial settling, maximum
    /// slew rate, settling, integration, end settling, z control (s, m, V/s);
    /// NaN: no change.
    BiasSpectrTimingSet { values: [f32; 8] },
    /// `BiasSpectr.Start`: sweep now and (get_data) send the curve back.
    BiasSpectrStart { get_data: bool, base_name: String },
    /// `BiasSpectr.Stop`.
    BiasSpectrStop,
    /// `BiasSpectr.StatusGet`: whether a sweep is running.
    BiasSpectrStatusGet,
    /// `ZCtrl.OnOffSet`: the Z controller on (tip to the setpoint) or off.
    ZCtrlOnOffSet { on: bool },
    /// `ZCtrl.Withdraw`: Z controller off, tip to the top of the piezo range.
    ZCtrlWithdraw { wait: bool, timeout_ms: i32 },
    /// `Util.VersionGet`: product line, version and releases.
    UtilVersionGet,
}

impl Command {
    /// Whether a controller error to this command is worth asking again at
    /// once (it changes nothing, or sets a state to what it already asked):
    /// all but a move and a sweep, which the engine retries as a step.
    pub fn retry_refused(&self) -> bool {
        !matches!(self, Self::FolMeXyPosSet { .. } | Self::BiasSpectrStart { .. })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::BiasSet { .. } => "Bias.Set",
            Self::ScanFrameGet => "Scan.FrameGet",
            Self::ScanBufferGet => "Scan.BufferGet",
            Self::ScanFrameDataGrab { .. } => "Scan.FrameDataGrab",
            Self::FolMeXyPosSet { .. } => "FolMe.XYPosSet",
            Self::FolMeXyPosGet { .. } => "FolMe.XYPosGet",
            Self::BiasSpectrOpen => "BiasSpectr.Open",
            Self::BiasSpectrLimitsSet { .. } => "BiasSpectr.LimitsSet",
            Self::BiasSpectrPropsSet { .. } => "BiasSpectr.PropsSet",
            Self::BiasSpectrTimingSet { .. } => "BiasSpectr.TimingSet",
            Self::BiasSpectrStart { .. } => "BiasSpectr.Start",
            Self::BiasSpectrStop => "BiasSpectr.Stop",
            Self::BiasSpectrStatusGet => "BiasSpectr.StatusGet",
            Self::ZCtrlOnOffSet { .. } => "ZCtrl.OnOffSet",
            Self::ZCtrlWithdraw { .. } => "ZCtrl.Withdraw",
            Self::UtilVersionGet => "Util.VersionGet",
        }
    }

    pub fn body(&self) -> Body {
        let b = Body::new();
        match self {
            Self::BiasSet { bias_v } => b.f32(*bias_v),
            Self::ScanFrameGet
            | Self::ScanBufferGet
            | Self::BiasSpectrOpen
            | Self::BiasSpectrStop
            | Self::BiasSpectrStatusGet
            | Self::UtilVersionGet => b,
            Self::ScanFrameDataGrab { channel, forward } => b.u32(*channel).u32(*forward as u32),
            Self::FolMeXyPosSet { x_m, y_m, wait } => b.f64(*x_m).f64(*y_m).u32(*wait as u32),
            Self::FolMeXyPosGet { wait_newest } => b.u32(*wait_newest as u32),
            Self::BiasSpectrLimitsSet { start_v, end_v } => b.f32(*start_v).f32(*end_v),
            Self::BiasSpectrPropsSet {
                save_all,
                sweeps,
                backward,
                points,
                z_offset_m,
                autosave,
                show_dialog,
            } => b
                .u16(*save_all)
                .i32(*sweeps)
                .u16(*backward)
                .i32(*points)
                .f32(*z_offset_m)
                .u16(*autosave)
                .u16(*show_dialog),
            Self::BiasSpectrTimingSet { values } => values.iter().fold(b, |b, v| b.f32(*v)),
            Self::BiasSpectrStart { get_data, base_name } => b.u32(*get_data as u32).str(base_name),
            Self::ZCtrlOnOffSet { on } => b.u32(*on as u32),
            Self::ZCtrlWithdraw { wait, timeout_ms } => b.u32(*wait as u32).i32(*timeout_ms),
        }
    }

    /// A request as the controller receives it; `None` for a command this
    /// subset does not hold.
    pub fn parse(name: &str, body: &[u8]) -> Result<Option<Self>, CodecError> {
        let mut c = Cursor::new(body);
        let cmd = match name {
            "Bias.Set" => Self::BiasSet { bias_v: c.f32()? },
            "Scan.FrameGet" => Self::ScanFrameGet,
            "Scan.BufferGet" => Self::ScanBufferGet,
            "Scan.FrameDataGrab" => Self::ScanFrameDataGrab {
                channel: c.u32()?,
                forward: c.u32()? == 1,
            },
            "FolMe.XYPosSet" => Self::FolMeXyPosSet {
                x_m: c.f64()?,
                y_m: c.f64()?,
                wait: c.u32()? == 1,
            },
            "FolMe.XYPosGet" => Self::FolMeXyPosGet {
                wait_newest: c.u32()? == 1,
            },
            "BiasSpectr.Open" => Self::BiasSpectrOpen,
            "BiasSpectr.LimitsSet" => Self::BiasSpectrLimitsSet {
                start_v: c.f32()?,
                end_v: c.f32()?,
            },
            "BiasSpectr.PropsSet" => Self::BiasSpectrPropsSet {
                save_all: c.u16()?,
                sweeps: c.i32()?,
                backward: c.u16()?,
                points: c.i32()?,
                z_offset_m: c.f32()?,
                autosave: c.u16()?,
                show_dialog: c.u16()?,
            },
            "BiasSpectr.TimingSet" => {
                let mut values = [0f32; 8];
                for v in &mut values {
                    *v = c.f32()?;
                }
                Self::BiasSpectrTimingSet { values }
            }
            "BiasSpectr.Start" => Self::BiasSpectrStart {
                get_data: c.u32()? == 1,
                base_name: c.str()?,
            },
            "BiasSpectr.Stop" => Self::BiasSpectrStop,
            "BiasSpectr.StatusGet" => Self::BiasSpectrStatusGet,
            "ZCtrl.OnOffSet" => Self::ZCtrlOnOffSet { on: c.u32()? == 1 },
            "ZCtrl.Withdraw" => Self::ZCtrlWithdraw {
                wait: c.u32()? == 1,
                timeout_ms: c.i32()?,
            },
            "Util.VersionGet" => Self::UtilVersionGet,
            _ => return Ok(None),
        };
        if c.left() != 0 {
            return Err(CodecError::Trailing(c.left()));
        }
        Ok(Some(cmd))
    }
}

/// `Scan.FrameGet`'s reply (float32 on the wire, as the controller keeps it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub centre_x_m: f32,
    pub centre_y_m: f32,
    pub width_m: f32,
    pub height_m: f32,
    /// Positive is clockwise.
    pub angle_deg: f32,
}

impl Frame {
    pub fn read(c: &mut Cursor) -> Result<Self, CodecError> {
        Ok(Self {
            centre_x_m: c.f32()?,
            centre_y_m: c.f32()?,
            width_m: c.f32()?,
            height_m: c.f32()?,
            angle_deg: c.f32()?,
        })
    }
    pub fn write(&self, b: Body) -> Body {
        b.f32(self.centre_x_m)
            .f32(self.centre_y_m)
            .f32(self.width_m)
            .f32(self.height_m)
            .f32(self.angle_deg)
    }
}

/// `Scan.BufferGet`'s reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    pub channels: Vec<i32>,
    pub pixels: i32,
    pub lines: i32,
}

impl Buffer {
    pub fn read(c: &mut Cursor) -> Result<Self, CodecError> {
        Ok(Self {
            channels: c.i32s()?,
            pixels: c.i32()?,
            lines: c.i32()?,
        })
    }
    pub fn write(&self, b: Body) -> Body {
        b.i32s(&self.channels).i32(self.pixels).i32(self.lines)
    }
}

/// `Scan.FrameDataGrab`'s reply: one channel's image, rows in the order they
/// were scanned.
#[derive(Debug, Clone, PartialEq)]
pub struct Grab {
    pub channel: String,
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
    /// 1 in the reply: the frame was scanned upwards, its first row is the
    /// bottom line.
    pub scan_up: bool,
}

impl Grab {
    pub fn read(c: &mut Cursor) -> Result<Self, CodecError> {
        let channel = c.str()?;
        let (rows, cols, data) = c.f32_2d()?;
        Ok(Self {
            channel,
            rows,
            cols,
            data,
            scan_up: c.u32()? == 1,
        })
    }
    pub fn write(&self, b: Body) -> Body {
        b.str(&self.channel)
            .f32_2d(self.rows, self.cols, &self.data)
            .u32(self.scan_up as u32)
    }
}

/// `BiasSpectr.Start`'s reply: one row per channel (the swept bias first),
/// one column per point, and the module's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    pub names: Vec<String>,
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
    pub parameters: Vec<f32>,
}

impl Spectrum {
    pub fn read(c: &mut Cursor) -> Result<Self, CodecError> {
        let names = c.strs()?;
        let (rows, cols, data) = c.f32_2d()?;
        Ok(Self {
            names,
            rows,
            cols,
            data,
            parameters: c.f32s()?,
        })
    }
    pub fn write(&self, b: Body) -> Body {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        b.strs(&names)
            .f32_2d(self.rows, self.cols, &self.data)
            .f32s(&self.parameters)
    }

    /// The row of the channel whose name starts with `prefix` (and is not a
    /// backward one unless asked for), found by name, never by position.
    pub fn channel(&self, prefix: &str, backward: bool) -> Option<&[f32]> {
        let k = self.names.iter().position(|n| {
            n.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()) && n.contains("[bwd]") == backward
        })?;
        (k < self.rows).then(|| &self.data[k * self.cols..(k + 1) * self.cols])
    }
}

/// `Util.VersionGet`'s reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub product: String,
    pub version: String,
    pub host_release: u32,
    pub rt_release: u32,
}

impl Version {
    pub fn read(c: &mut Cursor) -> Result<Self, CodecError> {
        Ok(Self {
            product: c.str()?,
            version: c.str()?,
            host_release: c.u32()?,
            rt_release: c.u32()?,
        })
    }
    pub fn write(&self, b: Body) -> Body {
        b.str(&self.product)
            .str(&self.version)
            .u32(self.host_release)
            .u32(self.rt_release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_reads_back_as_itself() {
        let all = [
            Command::BiasSet { bias_v: 1.5 },
            Command::ScanFrameGet,
            Command::ScanBufferGet,
            Command::ScanFrameDataGrab {
                channel: 30,
                forward: true,
            },
            Command::FolMeXyPosSet {
                x_m: 1e-6,
                y_m: -2e-7,
                wait: true,
            },
            Command::FolMeXyPosGet { wait_newest: true },
            Command::BiasSpectrOpen,
            Command::BiasSpectrLimitsSet {
                start_v: 0.0,
                end_v: 1.5,
            },
            Command::BiasSpectrPropsSet {
                save_all: 2,
                sweeps: 1,
                backward: 1,
                points: 126,
                z_offset_m: 0.0,
                autosave: 2,
                show_dialog: 2,
            },
            Command::BiasSpectrTimingSet {
                values: [0.0, 0.0, 0.0, 10.0, 1e-3, 1e-3, 0.0, 0.0],
            },
            Command::BiasSpectrStart {
                get_data: true,
                base_name: "iv".into(),
            },
            Command::BiasSpectrStop,
            Command::BiasSpectrStatusGet,
            Command::ZCtrlOnOffSet { on: true },
            Command::ZCtrlWithdraw {
                wait: true,
                timeout_ms: -1,
            },
            Command::UtilVersionGet,
        ];
        for c in all {
            assert_eq!(Command::parse(c.name(), &c.body().0).unwrap(), Some(c.clone()), "{c:?}");
        }
        assert_eq!(Command::parse("Motor.FreqAmpSet", &[]).unwrap(), None);
        assert!(Command::parse("Bias.Set", &[0, 0]).is_err());
    }

    #[test]
    fn a_spectrums_channels_are_found_by_name() {
        let s = Spectrum {
            names: vec!["Bias calc (V)".into(), "Current (A)".into(), "Current [bwd] (A)".into()],
            rows: 3,
            cols: 2,
            data: vec![0.0, 1.0, 1e-12, 2e-12, 3e-12, 4e-12],
            parameters: vec![],
        };
        assert_eq!(s.channel("Bias", false), Some(&[0.0, 1.0][..]));
        assert_eq!(s.channel("current", false), Some(&[1e-12, 2e-12][..]));
        assert_eq!(s.channel("Current", true), Some(&[3e-12, 4e-12][..]));
        assert_eq!(s.channel("Z", false), None);
    }
}
