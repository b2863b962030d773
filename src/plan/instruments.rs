//! The tables of a session plan that describe the instrument: the simulated
//! film, the simulator, a serial link and a Nanonis controller.

use serde::{Deserialize, Serialize};

/// The simulated halide-perovskite film (used by `instrument = "sim"` and
/// `dualscope sim export`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilmPlan {
    /// Film seed; when absent it is derived from the master seed.
    pub seed: Option<u64>,
    /// Number of Voronoi grains in the frame.
    pub grains: u32,
    /// Spread of grain heights (standard deviation).
    pub grain_height_spread_nm: f64,
    /// Depth of the grooves along grain boundaries.
    pub groove_depth_nm: f64,
    /// Half-width of a groove.
    pub groove_width_nm: f64,
    /// Extra depth of the pits at triple junctions.
    pub pit_depth_nm: f64,
    /// Radius of a triple-junction pit.
    pub pit_radius_nm: f64,
    /// Fraction of boundaries with a height step (asymmetric boundaries).
    pub asymmetric_fraction: f64,
    /// Height step across an asymmetric boundary.
    pub asymmetric_step_nm: f64,
    /// Surface roughness (standard deviation of smoothed noise).
    pub roughness_nm: f64,
    /// Current noise of the amplifier (standard deviation).
    pub current_noise_a: f64,
    /// Artefact: a random offset per scan line of the survey image.
    pub line_offset_nm: f64,
    /// Artefact: sample tilt across the frame.
    pub tilt_nm: f64,
    /// 0: this film as written. N ≥ 1: member N of the simulator's family of
    /// films, its geometry, physics and noise drawn from wide ranges (see
    /// `plan::physics::drawn`); the settings above then do not apply.
    pub draw: u32,
    /// How geometry sets the I–V response.
    pub physics: super::physics::PhysicsPlan,
}

impl Default for FilmPlan {
    fn default() -> Self {
        Self {
            seed: None,
            grains: 36,
            grain_height_spread_nm: 12.0,
            groove_depth_nm: 18.0,
            groove_width_nm: 14.0,
            pit_depth_nm: 22.0,
            pit_radius_nm: 26.0,
            asymmetric_fraction: 0.25,
            asymmetric_step_nm: 16.0,
            roughness_nm: 1.2,
            current_noise_a: 2e-12,
            line_offset_nm: 0.0,
            tilt_nm: 0.0,
            draw: 0,
            physics: super::physics::PhysicsPlan::default(),
        }
    }
}

/// How the simulated instrument behaves in time, and the faults it can show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimPlan {
    /// 1.0 runs at the speed of a real microscope; 0.0 does not wait at all.
    pub time_scale: f64,
    /// Tip settle time after a move, at real speed.
    pub settle_ms: f64,
    /// Tip speed for moves, at real speed.
    pub move_speed_nm_per_s: f64,
    /// Fault: every Nth sweep fails with an instrument error (0 = never).
    pub fail_sweep_every: u32,
    /// Fault: every Nth reply is delayed by `slow_reply_ms` (0 = never).
    pub slow_reply_every: u32,
    pub slow_reply_ms: u64,
    /// For tests: append one line per sweep returned to this file, so a test can
    /// check the session log holds every curve the instrument gave.
    pub audit_log: Option<String>,
    /// The tip settles on a grid of this pitch instead of at the point asked
    /// for, as a coarse piezo stage or a controller with its own raster does
    /// (0: exactly where asked).
    pub settle_grid_nm: f64,
    /// The tip settles this far from where it was sent (x, y), as a stage with
    /// an uncorrected offset does.
    pub settle_offset_nm: [f64; 2],
    /// What a real microscope does over a long session (`[sim.artefacts]`):
    /// all off by default.
    pub artefacts: ArtefactPlan,
}

/// Drift, creep, lost contact and a tip that changes: the artefacts of a
/// long C-AFM session, seeded and in instrument time (the time the real
/// microscope would take, whatever `time_scale` says). The instrument still
/// reports the position it was sent to, as a real piezo does: drift shows
/// only in the topography and in the curves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArtefactPlan {
    /// The sample's drift under the tip (x, y), in nm per minute.
    pub drift_nm_per_min: [f64; 2],
    /// A slowly turning part of the drift's velocity: this many nm/min,
    /// going round once every `drift_period_min`.
    pub drift_wobble_nm_per_min: f64,
    pub drift_period_min: f64,
    /// After a move the piezo creeps on in its direction, up to this share
    /// of the move's length, with time constant `creep_tau_s`.
    pub creep_fraction: f64,
    pub creep_tau_s: f64,
    /// The share of sweeps on which the tip has no contact: only noise.
    pub contact_loss: f64,
    /// The share of sweeps whose noise is `noisy_factor` times the film's:
    /// an unstable contact or electrical pickup, the curve still there
    /// under it.
    pub noisy_share: f64,
    pub noisy_factor: f64,
    /// After this many sweeps of the instrument's life the tip changes
    /// (0 = never) and every later current is scaled by `tip_change_factor`.
    pub tip_change_after: u32,
    pub tip_change_factor: f64,
}

impl Default for ArtefactPlan {
    fn default() -> Self {
        Self {
            drift_nm_per_min: [0.0, 0.0],
            drift_wobble_nm_per_min: 0.0,
            drift_period_min: 30.0,
            creep_fraction: 0.0,
            creep_tau_s: 20.0,
            contact_loss: 0.0,
            noisy_share: 0.0,
            noisy_factor: 5.0,
            tip_change_after: 0,
            tip_change_factor: 0.4,
        }
    }
}

impl ArtefactPlan {
    /// Whether any artefact is on.
    pub fn any(&self) -> bool {
        self.drift_nm_per_min != [0.0, 0.0]
            || self.drift_wobble_nm_per_min != 0.0
            || self.creep_fraction > 0.0
            || self.contact_loss > 0.0
            || self.noisy_share > 0.0
            || self.tip_change_after > 0
    }
}

impl Default for SimPlan {
    fn default() -> Self {
        Self {
            time_scale: 0.1,
            settle_ms: 150.0,
            move_speed_nm_per_s: 20_000.0,
            fail_sweep_every: 0,
            slow_reply_every: 0,
            slow_reply_ms: 0,
            audit_log: None,
            settle_grid_nm: 0.0,
            settle_offset_nm: [0.0, 0.0],
            artefacts: ArtefactPlan::default(),
        }
    }
}

/// Serial link settings for `instrument = "serial:PATH"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SerialPlan {
    pub baud: u32,
    /// How long to wait for a reply before the same request is sent again.
    pub timeout_ms: u64,
    /// Extra time an `IV` reply may take beyond `points × dwell_ms`.
    pub sweep_margin_ms: u64,
    /// Times one request is sent again before the link counts as lost.
    pub retries: u32,
    /// How long to keep reopening a port that disappeared.
    pub reconnect_s: u64,
    /// Survey rows per `TOPO?` band (every reply must fit 64 KiB).
    pub band_rows: u32,
}

impl Default for SerialPlan {
    fn default() -> Self {
        Self {
            baud: 115_200,
            timeout_ms: 1_000,
            sweep_margin_ms: 3_000,
            retries: 5,
            reconnect_s: 120,
            band_rows: 32,
        }
    }
}

/// Link settings for `instrument = "nanonis:HOST:PORT"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NanonisPlan {
    /// How long to wait for an ordinary reply before the connection counts as lost.
    pub timeout_ms: u64,
    /// Extra time `BiasSpectr.Start` may take beyond `points × dwell_ms`.
    pub sweep_margin_ms: u64,
    /// Times one command is sent again (after reconnecting) before the link
    /// counts as lost.
    pub retries: u32,
    /// How long to keep reconnecting to a controller that went away.
    pub reconnect_s: u64,
    /// The scan buffer's channel index of Z (absent: found by its name).
    pub z_channel: Option<u32>,
}

impl Default for NanonisPlan {
    fn default() -> Self {
        Self {
            timeout_ms: 2_000,
            sweep_margin_ms: 5_000,
            retries: 3,
            reconnect_s: 60,
            z_channel: None,
        }
    }
}
