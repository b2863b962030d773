//! The session plan: everything a run needs, read from `sessions/*.toml`.
//!
//! Every table refuses unknown keys (`deny_unknown_fields`) so a typo is an
//! error that names the key, never a silently ignored setting; every number is
//! checked against a range by [`SessionPlan::validate`].

mod check;
mod drift;
mod instruments;
pub mod memory;
pub mod physics;
mod quality;
mod sections;
mod sweep;

pub use check::{PlanError, exclusion as check_exclusion};
pub use drift::DriftPlan;
pub use instruments::*;
pub use physics::PhysicsPlan;
pub use quality::QualityPlan;
pub use sections::*;
pub use sweep::{ProtocolPlan, SweepPlan, SweepRequest};

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where the instrument comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstrumentSpec {
    /// The in-process simulated perovskite film.
    Sim,
    /// A `dualscope-grid/1` dataset served as if it were a microscope.
    Replay(std::path::PathBuf),
    /// A microscope (or bridge) speaking `dualscope-wire/1` on a serial port.
    Serial(String),
    /// A SPECS Nanonis controller's TCP interface, `host:port`.
    Nanonis(String),
}

/// The port a Nanonis controller's TCP interface listens on unless set otherwise.
pub const NANONIS_PORT: u16 = 6501;

impl InstrumentSpec {
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let text = text.trim();
        if text == "sim" {
            return Ok(Self::Sim);
        }
        if let Some(dir) = text.strip_prefix("replay:") {
            if dir.is_empty() {
                return Err(PlanError::new("instrument", text, "replay:DIR needs a folder"));
            }
            return Ok(Self::Replay(dir.into()));
        }
        if let Some(port) = text.strip_prefix("serial:") {
            if port.is_empty() {
                return Err(PlanError::new("instrument", text, "serial:PATH needs a port path"));
            }
            return Ok(Self::Serial(port.to_string()));
        }
        if let Some(address) = text.strip_prefix("nanonis:") {
            let (host, port) = match address.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().ok()),
                None => (address, Some(NANONIS_PORT)),
            };
            return match port {
                Some(port) if !host.is_empty() && port > 0 => Ok(Self::Nanonis(format!("{host}:{port}"))),
                _ => Err(PlanError::new(
                    "instrument",
                    text,
                    format!("nanonis:HOST or nanonis:HOST:PORT (port 1-65535, default {NANONIS_PORT})"),
                )),
            };
        }
        Err(PlanError::new(
            "instrument",
            text,
            "one of \"sim\", \"replay:DIR\", \"serial:PATH\", \"nanonis:HOST:PORT\"",
        ))
    }

    pub fn label(&self) -> String {
        match self {
            Self::Sim => "sim".into(),
            Self::Replay(dir) => format!("replay:{}", dir.display()),
            Self::Serial(port) => format!("serial:{port}"),
            Self::Nanonis(address) => format!("nanonis:{address}"),
        }
    }
}

/// The whole plan, as written in the TOML file (with defaults filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionPlan {
    /// Free text shown in `dualscope sessions`.
    pub name: String,
    /// The master seed: simulator, Latin-hypercube seeds, network initialisation
    /// and every random choice derive from it.
    pub seed: u64,
    /// `sim`, `replay:DIR` or `serial:PATH`.
    pub instrument: String,
    pub film: FilmPlan,
    pub sim: SimPlan,
    pub serial: SerialPlan,
    pub nanonis: NanonisPlan,
    pub survey: SurveyPlan,
    pub sweep: SweepPlan,
    pub safety: SafetyPlan,
    pub policy: PolicyPlan,
    pub analysis: AnalysisPlan,
    pub output: OutputPlan,
    pub console: ConsolePlan,
    pub host: HostPlan,
    pub notify: NotifyPlan,
    pub quality: QualityPlan,
    pub drift: DriftPlan,
}

impl Default for SessionPlan {
    fn default() -> Self {
        Self {
            name: "demo".into(),
            seed: 1,
            instrument: "sim".into(),
            film: FilmPlan::default(),
            sim: SimPlan::default(),
            serial: SerialPlan::default(),
            nanonis: NanonisPlan::default(),
            survey: SurveyPlan::default(),
            sweep: SweepPlan::default(),
            safety: SafetyPlan::default(),
            policy: PolicyPlan::default(),
            analysis: AnalysisPlan::default(),
            output: OutputPlan::default(),
            console: ConsolePlan::default(),
            host: HostPlan::default(),
            notify: NotifyPlan::default(),
            quality: QualityPlan::default(),
            drift: DriftPlan::default(),
        }
    }
}

impl SessionPlan {
    /// Curves the session takes in all: the budget's locations times the
    /// sweeps each gets.
    pub fn curves_budget(&self) -> u32 {
        self.policy.budget.saturating_mul(self.sweep.protocols().len() as u32)
    }

    /// Reads and validates a plan file.
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PlanError::new("plan", path.display(), format!("a readable TOML file ({e})")))?;
        Self::from_toml(&text).map_err(|e| e.in_file(path))
    }

    pub fn from_toml(text: &str) -> Result<Self, PlanError> {
        let plan: SessionPlan = toml::from_str(text).map_err(|e| PlanError::from_toml(e, text))?;
        plan.validate()?;
        Ok(plan)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a plan always serialises")
    }

    pub fn instrument_spec(&self) -> Result<InstrumentSpec, PlanError> {
        InstrumentSpec::parse(&self.instrument)
    }

    /// Checks every value against its allowed range; the first offence is returned
    /// with the key, the value and the range.
    pub fn validate(&self) -> Result<(), PlanError> {
        check::validate(self)
    }
}

impl AnalysisPlan {
    /// [`SessionPlan::validate`] for the `[analysis]` section alone.
    pub fn validate(&self) -> Result<(), PlanError> {
        check::validate_analysis(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let plan = SessionPlan::default();
        plan.validate().unwrap();
        let again = SessionPlan::from_toml(&plan.to_toml()).unwrap();
        assert_eq!(plan, again);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = SessionPlan::from_toml("[sweep]\npionts = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("pionts"), "{text}");
        // Placed as an editor shows it, not in bytes.
        assert_eq!(err.key, "sweep.pionts (line 2, column 1)", "{text}");
        assert_eq!(err.value, "3", "{text}");
        assert!(!text.contains("bytes"), "{text}");
        let err = SessionPlan::from_toml("seed = 1\n\n[sweep]\n# a comment\npoints = \"many\"\n").unwrap_err();
        assert_eq!(err.key, "sweep.points (line 5, column 10)", "{err}");
        assert_eq!(err.value, "\"many\"");
    }

    #[test]
    fn out_of_range_names_key_value_and_range() {
        let err = SessionPlan::from_toml("[sweep]\npoints = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sweep.points"), "{text}");
        assert!(text.contains('3'), "{text}");
        assert!(text.contains("11"), "{text}");
    }

    /// demo.toml says its values are the built-in defaults except the two whose
    /// comments say why they differ; this keeps that sentence true.
    #[test]
    fn the_demo_plan_is_the_defaults_but_for_what_it_says() {
        let mut demo = SessionPlan::from_toml(include_str!("../../sessions/demo.toml")).unwrap();
        let builtin = SessionPlan::default();
        assert_ne!(demo.analysis.vae_learning_rate, builtin.analysis.vae_learning_rate);
        assert_ne!(demo.analysis.vae_ensemble, builtin.analysis.vae_ensemble);
        demo.analysis.vae_learning_rate = builtin.analysis.vae_learning_rate;
        demo.analysis.vae_ensemble = builtin.analysis.vae_ensemble;
        assert_eq!(demo, builtin);
    }

    #[test]
    fn the_shipped_plans_parse() {
        let demo = SessionPlan::from_toml(include_str!("../../sessions/demo.toml")).unwrap();
        assert_eq!(demo.policy.budget, 210);
        assert_eq!(demo.analysis.vae_ensemble, 8);
        assert_eq!(demo.analysis.vae_learning_rate, 3e-3);
        let fast = SessionPlan::from_toml(include_str!("../../sessions/fast.toml")).unwrap();
        assert_eq!(fast.analysis.vae_ensemble, 1);
        let realistic = SessionPlan::from_toml(include_str!("../../sessions/realistic.toml")).unwrap();
        assert!(realistic.sim.artefacts.any() && !demo.sim.artefacts.any());
        assert_eq!(realistic.sim.artefacts.tip_change_after, 150);
        // Only the artefacts and the tip check differ from the demo.
        let mut like_demo = realistic.clone();
        like_demo.sim.artefacts = demo.sim.artefacts.clone();
        assert_eq!(realistic.quality.reference_every, 10);
        like_demo.quality = demo.quality.clone();
        like_demo.drift = demo.drift.clone();
        (like_demo.name, like_demo.output) = (demo.name.clone(), demo.output.clone());
        assert_eq!(like_demo, demo);
    }

    #[test]
    fn analysis_settings_out_of_range_are_named() {
        for (toml, key) in [
            ("vae_learning_rate = -1e-3", "analysis.vae_learning_rate"),
            ("vae_learning_rate = nan", "analysis.vae_learning_rate"),
            ("vae_epochs = 0", "analysis.vae_epochs"),
            ("patch_window_nm = -5.0", "analysis.patch_window_nm"),
            ("clusters_max = 1", "analysis.clusters_max"),
            ("vae_ensemble = 0", "analysis.vae_ensemble"),
        ] {
            let err = SessionPlan::from_toml(&format!("[analysis]\n{toml}\n")).unwrap_err();
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
        let ok = SessionPlan::from_toml("[analysis]\npatch_window_nm = 0.0\nvae_gamma = 0.0\n").unwrap();
        assert_eq!(ok.analysis.patch_window_nm, 0.0);
    }

    #[test]
    fn sweep_beyond_safety_limit_is_refused() {
        let err = SessionPlan::from_toml("[sweep]\nv_max = 3.0\n[safety]\nbias_max_v = 2.0\n").unwrap_err();
        assert!(err.to_string().contains("sweep.v_max"), "{err}");
    }

    /// Every protocol is held to the limits before the session starts, each
    /// named by its place in the list; a protocol takes what it leaves out
    /// from `[sweep]`.
    #[test]
    fn every_protocol_is_checked_and_fills_in_from_the_sweep() {
        let toml = |third: &str| {
            format!(
                "[sweep]\npoints = 101\n[[sweep.protocol]]\nv_max = 1.0\n[[sweep.protocol]]\nv_max = -1.5\n\
                 [[sweep.protocol]]\n{third}\n"
            )
        };
        let plan = SessionPlan::from_toml(&toml("v_max = 2.0\ndwell_ms = 8.0")).unwrap();
        let p = plan.sweep.protocols();
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].v_max, p[0].points, p[0].dwell_ms), (1.0, 101, 2.0));
        assert_eq!((p[1].v_max, p[2].v_max, p[2].dwell_ms), (-1.5, 2.0, 8.0));
        assert_eq!(plan.curves_budget(), 3 * plan.policy.budget);
        assert_eq!(plan.sweep.set_points(), 303);
        let err = SessionPlan::from_toml(&toml("v_max = 2.5")).unwrap_err();
        assert!(err.to_string().contains("sweep.protocol[2].v_max"), "{err}");
        let err = SessionPlan::from_toml(&toml("v_start = 0.0\nv_max = 0.0")).unwrap_err();
        assert!(err.to_string().contains("sweep.protocol[2].v_max"), "{err}");
        // Without protocols: the one sweep, as before.
        let one = SessionPlan::default();
        assert_eq!(one.sweep.protocols(), vec![one.sweep.base()]);
        assert_eq!(one.curves_budget(), one.policy.budget);
    }

    #[test]
    fn instrument_specs_parse() {
        assert_eq!(InstrumentSpec::parse("sim").unwrap(), InstrumentSpec::Sim);
        assert_eq!(
            InstrumentSpec::parse("replay:/data/x").unwrap(),
            InstrumentSpec::Replay("/data/x".into())
        );
        assert_eq!(
            InstrumentSpec::parse("serial:/dev/ttyUSB0").unwrap(),
            InstrumentSpec::Serial("/dev/ttyUSB0".into())
        );
        assert_eq!(
            InstrumentSpec::parse("nanonis:192.168.1.5:6502").unwrap(),
            InstrumentSpec::Nanonis("192.168.1.5:6502".into())
        );
        assert_eq!(
            InstrumentSpec::parse("nanonis:spm-pc").unwrap(),
            InstrumentSpec::Nanonis("spm-pc:6501".into())
        );
        assert!(InstrumentSpec::parse("nanonis:host:0").is_err());
        assert!(InstrumentSpec::parse("nanonis:").is_err());
        assert!(InstrumentSpec::parse("usb").is_err());
    }
}
