//! The built-in simulated C-AFM: a seeded film, its local I–V physics, a time
//! model (compressed by default, real speed on request) and faults that tests can
//! switch on. It has the same face as the hardware.

pub mod artefacts;
pub mod film;
pub mod iv;

use super::{Instrument, InstrumentError, SweepRequest};
use crate::plan::{FilmPlan, SafetyPlan, SimPlan, SurveyPlan};
use crate::record::{Identity, Limits, Survey, Sweep};
use crate::seed;
use artefacts::Artefacts;
use film::Film;
use iv::Response;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

/// Everything the simulator needs from a plan.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub master_seed: u64,
    pub film: FilmPlan,
    pub sim: SimPlan,
    pub width_nm: f64,
    pub height_nm: f64,
    pub safety: SafetyPlan,
}

impl SimConfig {
    pub fn from_plan(plan: &crate::plan::SessionPlan) -> Self {
        Self::new(plan.seed, &plan.film, &plan.sim, &plan.survey, &plan.safety)
    }

    pub fn new(seed: u64, film: &FilmPlan, sim: &SimPlan, survey: &SurveyPlan, safety: &SafetyPlan) -> Self {
        Self {
            master_seed: seed,
            film: film.clone(),
            sim: sim.clone(),
            width_nm: survey.width_nm,
            height_nm: survey.height_nm,
            safety: *safety,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TipState {
    Withdrawn,
    Engaged,
}

/// The simulated microscope.
pub struct SimInstrument {
    config: SimConfig,
    film: Film,
    tip: TipState,
    x_nm: f64,
    y_nm: f64,
    sweeps: u64,
    replies: u64,
    visits: HashMap<(u64, u64), u64>,
    audit: Option<std::fs::File>,
    artefacts: Artefacts,
}

impl SimInstrument {
    pub fn new(config: SimConfig) -> Result<Self, InstrumentError> {
        let film = Film::new(&config.film, config.master_seed, config.width_nm, config.height_nm);
        let audit = match &config.sim.audit_log {
            Some(path) => Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
            None => None,
        };
        Ok(Self {
            film,
            tip: TipState::Withdrawn,
            x_nm: config.width_nm / 2.0,
            y_nm: config.height_nm / 2.0,
            sweeps: 0,
            replies: 0,
            visits: HashMap::new(),
            audit,
            artefacts: Artefacts::new(&config.sim.artefacts, config.master_seed),
            config,
        })
    }

    pub fn film(&self) -> &Film {
        &self.film
    }

    /// Waits `real_ms` scaled by the plan's time scale; the instrument's own
    /// clock (the artefacts') moves on by all of `real_ms`.
    fn wait(&mut self, real_ms: f64) {
        self.artefacts.advance(real_ms);
        let ms = real_ms * self.config.sim.time_scale;
        if ms > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(ms / 1000.0));
        }
    }

    /// Counts a reply and applies the slow-reply fault.
    fn reply(&mut self) {
        self.replies += 1;
        let every = self.config.sim.slow_reply_every as u64;
        if every > 0 && self.replies.is_multiple_of(every) {
            std::thread::sleep(Duration::from_millis(self.config.sim.slow_reply_ms));
        }
    }

    /// Where the tip comes to rest when sent to (x, y): on the stage's grid,
    /// shifted by its offset, inside the frame.
    fn settle_point(&self, x_nm: f64, y_nm: f64) -> (f64, f64) {
        let (grid, [dx, dy]) = (self.config.sim.settle_grid_nm, self.config.sim.settle_offset_nm);
        let snap = |v: f64| if grid > 0.0 { (v / grid).round() * grid } else { v };
        (
            (snap(x_nm) + dx).clamp(0.0, self.config.width_nm),
            (snap(y_nm) + dy).clamp(0.0, self.config.height_nm),
        )
    }

    /// The curve the film gives at a point, without noise or time (for tests and
    /// for scoring discovery against the truth).
    pub fn response_at(&self, x_nm: f64, y_nm: f64) -> Response {
        let site = self.film.site(x_nm, y_nm);
        Response::at(&site, self.film.plan())
    }

    /// A full noisy sweep at a point, the same one the instrument would record
    /// on its `visit`-th sweep there.
    pub fn sweep_at(&self, x_nm: f64, y_nm: f64, request: &SweepRequest, visit: u64) -> Sweep {
        self.sweep_under(x_nm, y_nm, (x_nm, y_nm), request, visit, (1.0, 1.0))
    }

    /// The sweep of a tip sent to (x, y) whose film point is `under_nm`
    /// (drift and creep), its currents scaled by `factor` (0: no contact)
    /// and its noise by `noise_factor`.
    fn sweep_under(
        &self,
        x_nm: f64,
        y_nm: f64,
        (under_x, under_y): (f64, f64),
        request: &SweepRequest,
        visit: u64,
        (factor, noise_factor): (f64, f64),
    ) -> Sweep {
        let key = (x_nm.to_bits(), y_nm.to_bits());
        // Noise is keyed by place and visit, not by a running stream: a session
        // resumed after a crash sees the same curve at the same point.
        let mut rng = seed::rng(self.config.master_seed, "sweep-noise", &[key.0, key.1, visit]);
        let mut response = self.response_at(under_x, under_y);
        response.scale_a *= factor;
        response.sweep(
            request,
            self.config.safety.current_max_a,
            (
                self.film.plan().current_noise_a * noise_factor,
                self.film.plan().physics.slow_noise_share,
            ),
            &mut rng,
        )
    }
}

impl Instrument for SimInstrument {
    fn identity(&mut self) -> Result<Identity, InstrumentError> {
        self.reply();
        Ok(Identity {
            vendor: "dualscope".into(),
            model: "SimAFM".into(),
            serial: format!("film-{:016x}", seed::derive(self.config.master_seed, "film", &[])),
            firmware: env!("CARGO_PKG_VERSION").into(),
        })
    }

    fn limits(&mut self) -> Result<Limits, InstrumentError> {
        self.reply();
        Ok(Limits {
            bias_max_v: self.config.safety.bias_max_v,
            current_max_a: self.config.safety.current_max_a,
            x_max_nm: self.config.width_nm,
            y_max_nm: self.config.height_nm,
        })
    }

    fn survey(&mut self, rows: u32, cols: u32) -> Result<Survey, InstrumentError> {
        if rows == 0 || cols == 0 {
            return Err(InstrumentError::BadArgument(format!("survey of {rows}×{cols} px")));
        }
        self.reply();
        // A raster scan takes about one line per 10 ms at real speed.
        self.wait(rows as f64 * 10.0);
        // The image of the film as it lies now, drifted.
        let image = self.film.render_drifted(rows, cols, self.artefacts.drift_nm());
        Ok(Survey {
            width_nm: self.config.width_nm,
            height_nm: self.config.height_nm,
            heights_nm: image.heights_nm,
        })
    }

    fn engage(&mut self) -> Result<(), InstrumentError> {
        self.reply();
        if self.tip == TipState::Withdrawn {
            self.wait(self.config.sim.settle_ms);
        }
        self.tip = TipState::Engaged;
        Ok(())
    }

    fn withdraw(&mut self) -> Result<(), InstrumentError> {
        self.reply();
        self.tip = TipState::Withdrawn;
        Ok(())
    }

    fn move_to(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError> {
        let (w, h) = (self.config.width_nm, self.config.height_nm);
        if !(0.0..=w).contains(&x_nm) || !(0.0..=h).contains(&y_nm) {
            return Err(InstrumentError::Limit(format!(
                "move to ({x_nm:.1}, {y_nm:.1}) nm is outside the {w}×{h} nm frame"
            )));
        }
        self.reply();
        let (x_nm, y_nm) = self.settle_point(x_nm, y_nm);
        let by_nm = [x_nm - self.x_nm, y_nm - self.y_nm];
        let distance = by_nm[0].hypot(by_nm[1]);
        self.wait(distance / self.config.sim.move_speed_nm_per_s * 1000.0);
        self.artefacts.moved(by_nm);
        self.wait(self.config.sim.settle_ms);
        self.x_nm = x_nm;
        self.y_nm = y_nm;
        // Where it was sent, as a real piezo's sensor says: drift and creep
        // show only in what the tip measures.
        Ok((x_nm, y_nm))
    }

    fn sweep(&mut self, request: &SweepRequest) -> Result<Sweep, InstrumentError> {
        let bias_max_v = self.config.safety.bias_max_v;
        for v in [request.v_start, request.v_max, request.v_end] {
            if v.abs() > bias_max_v {
                return Err(InstrumentError::Limit(format!("bias {v} V beyond ±{bias_max_v} V")));
            }
        }
        if self.tip != TipState::Engaged {
            return Err(InstrumentError::Refused {
                code: "NOTENGAGED".into(),
                message: "the tip is not on the surface".into(),
            });
        }
        self.reply();
        self.sweeps += 1;
        let every = self.config.sim.fail_sweep_every as u64;
        if every > 0 && self.sweeps.is_multiple_of(every) {
            self.wait(request.duration_ms() * 0.5);
            return Err(InstrumentError::SweepFailed(format!(
                "simulated fault on sweep {} (fail_sweep_every = {every})",
                self.sweeps
            )));
        }
        let key = (self.x_nm.to_bits(), self.y_nm.to_bits());
        let visit = self.visits.entry(key).or_insert(0);
        let this_visit = *visit;
        *visit += 1;
        let under = self.artefacts.under_tip(self.x_nm, self.y_nm);
        let factor = if self.artefacts.contact_lost(key, this_visit) {
            0.0
        } else {
            self.artefacts.current_factor(self.sweeps)
        };
        let noise_factor = self.artefacts.noise_factor(key, this_visit);
        let sweep = self.sweep_under(self.x_nm, self.y_nm, under, request, this_visit, (factor, noise_factor));
        self.wait(request.dwell_ms * sweep.bias_v.len() as f64);
        if let Some(audit) = &mut self.audit {
            // Written before the curve is handed over, so a test can tell a curve
            // the instrument returned from one the host merely asked for.
            // One write of a whole line: a kill cannot leave half of it.
            // The film point measured, drift and creep included (the same as
            // where it was sent while no artefact is on).
            let sum: f64 = sweep.current_a.iter().sum();
            let mut line = format!("{:.6} {:.6} {} {:e}", under.0, under.1, sweep.current_a.len(), sum);
            if self.config.sim.artefacts.any() {
                // What the artefacts drew for this sweep: the currents' factor
                // (0: no contact) and the noise's, for a test to hold the
                // quality gate's verdicts against.
                line.push_str(&format!(" {factor} {noise_factor}"));
            }
            line.push('\n');
            audit.write_all(line.as_bytes())?;
        }
        Ok(sweep)
    }

    fn abort(&mut self) -> Result<(), InstrumentError> {
        self.reply();
        Ok(())
    }

    fn link_label(&self) -> String {
        "in-process simulator".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SessionPlan;

    fn sim() -> SimInstrument {
        let mut plan = SessionPlan::default();
        plan.sim.time_scale = 0.0;
        SimInstrument::new(SimConfig::from_plan(&plan)).unwrap()
    }

    #[test]
    fn sweep_needs_an_engaged_tip_and_respects_limits() {
        let mut s = sim();
        let request = SweepRequest::default();
        assert!(matches!(s.sweep(&request), Err(InstrumentError::Refused { .. })));
        s.engage().unwrap();
        let curve = s.sweep(&request).unwrap();
        assert_eq!(curve.bias_v.len(), curve.current_a.len());
        let too_far = SweepRequest { v_max: 5.0, ..request };
        assert!(matches!(s.sweep(&too_far), Err(InstrumentError::Limit(_))));
        assert!(matches!(s.move_to(-1.0, 0.0), Err(InstrumentError::Limit(_))));
    }

    #[test]
    fn the_same_point_gives_the_same_first_curve_in_a_new_instrument() {
        let request = SweepRequest::default();
        let mut a = sim();
        let mut b = sim();
        for s in [&mut a, &mut b] {
            s.engage().unwrap();
            s.move_to(500.0, 700.0).unwrap();
        }
        assert_eq!(a.sweep(&request).unwrap(), b.sweep(&request).unwrap());
        // A second visit is a new measurement with its own noise.
        assert_ne!(a.sweep(&request).unwrap(), b.sweep_at(500.0, 700.0, &request, 0));
    }

    #[test]
    fn fault_fails_every_nth_sweep() {
        let mut plan = SessionPlan::default();
        plan.sim.time_scale = 0.0;
        plan.sim.fail_sweep_every = 2;
        let mut s = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
        s.engage().unwrap();
        let request = SweepRequest::default();
        assert!(s.sweep(&request).is_ok());
        assert!(matches!(s.sweep(&request), Err(InstrumentError::SweepFailed(_))));
        assert!(s.sweep(&request).is_ok());
    }

    /// A drawn film is another film: its own grains, its own physics, in
    /// the topography and in the curves; draw 0 is the plan as written.
    #[test]
    fn a_drawn_film_differs_in_relief_and_response() {
        let with_draw = |draw: u32| {
            let mut plan = SessionPlan::default();
            plan.sim.time_scale = 0.0;
            plan.film.draw = draw;
            SimInstrument::new(SimConfig::from_plan(&plan)).unwrap()
        };
        let (plain, drawn, again) = (with_draw(0), with_draw(7), with_draw(7));
        assert_eq!(drawn.response_at(300.0, 900.0), again.response_at(300.0, 900.0));
        assert_ne!(plain.response_at(300.0, 900.0), drawn.response_at(300.0, 900.0));
        assert_eq!(plain.film.plan(), &crate::plan::FilmPlan::default());
        assert_ne!(drawn.film.plan().physics, crate::plan::PhysicsPlan::default());
        let relief = |s: &SimInstrument| s.film.render(32, 32).heights_nm;
        assert_ne!(relief(&plain), relief(&drawn));
    }

    /// Drift moves the film under a tip that still reports where it was
    /// sent; a lost contact gives only noise; a changed tip conducts less.
    #[test]
    fn artefacts_show_in_the_curves_not_in_the_reported_position() {
        let with = |artefacts: crate::plan::ArtefactPlan| {
            let mut plan = SessionPlan::default();
            plan.sim.time_scale = 0.0;
            plan.sim.artefacts = artefacts;
            let mut s = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
            s.engage().unwrap();
            s
        };
        let request = SweepRequest::default();
        let max = |sweep: &Sweep| sweep.current_a.iter().fold(0.0f64, |m, i| m.max(i.abs()));
        let mut plain = with(Default::default());
        let mut drifting = with(crate::plan::ArtefactPlan {
            drift_nm_per_min: [600.0, 0.0],
            ..Default::default()
        });
        for s in [&mut plain, &mut drifting] {
            // A minute of instrument time: the film moves 600 nm.
            s.wait(60_000.0);
            assert_eq!(s.move_to(1000.0, 1000.0).unwrap(), (1000.0, 1000.0));
        }
        let expected = drifting.artefacts.under_tip(1000.0, 1000.0);
        let drifted = drifting.sweep(&request).unwrap();
        // (and a little more for the engage and settle times).
        assert!((expected.0 - (1000.0 - 600.0)).abs() < 10.0, "{expected:?}");
        // The film's curve there, with the noise of the place it was sent to.
        let there = plain.sweep_under(1000.0, 1000.0, expected, &request, 0, (1.0, 1.0));
        assert!(drifted.current_a == there.current_a, "the curve of the drifted point");
        assert!(drifted.current_a != plain.sweep_at(1000.0, 1000.0, &request, 0).current_a);
        // The survey shows the film moved too.
        let (a, b) = (plain.survey(64, 64).unwrap(), drifting.survey(64, 64).unwrap());
        assert_ne!(a.heights_nm, b.heights_nm);

        let mut lost = with(crate::plan::ArtefactPlan {
            contact_loss: 1.0,
            ..Default::default()
        });
        lost.move_to(1000.0, 1000.0).unwrap();
        let mut plain = with(Default::default());
        plain.move_to(1000.0, 1000.0).unwrap();
        let (noise, curve) = (lost.sweep(&request).unwrap(), plain.sweep(&request).unwrap());
        let noise_a = plain.film.plan().current_noise_a;
        assert!(
            max(&noise) < 8.0 * noise_a && max(&curve) > 20.0 * noise_a,
            "{} {}",
            max(&noise),
            max(&curve)
        );

        let mut worn = with(crate::plan::ArtefactPlan {
            tip_change_after: 1,
            tip_change_factor: 0.25,
            ..Default::default()
        });
        worn.move_to(1000.0, 1000.0).unwrap();
        let first = worn.sweep(&request).unwrap();
        assert_eq!(first.current_a, curve.current_a);
        let second = worn.sweep(&request).unwrap();
        let again = plain.sweep(&request).unwrap();
        assert!(
            max(&second) < 0.4 * max(&again),
            "{} against {}",
            max(&second),
            max(&again)
        );
    }
}
