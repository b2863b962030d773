//! One step: choose where, journal the intent, move, sweep (retrying a failed
//! sweep), check what came back, journal the decision with its curve, and let
//! the policy learn from it.
//!
//! The position recorded is where the instrument says the tip settled, not
//! where it was sent (CONTRACTS §3): `x_nm`, `y_nm` from the `MOVE` reply and
//! `row`, `col` the survey pixel holding them. The requested pixel stays in
//! `decisions`.

use super::sets::OpenSet;
use super::{Command, EngineEvent, RunState, StepReport, Stop};
use crate::engine::Engine;
use crate::instrument::{InstrumentError, SweepRequest, check};
use crate::policy::{Choice, DecideContext};
use crate::record::{Decision, EventKind, Measurement, Source, Sweep};
use crate::store::{Entry, now_ms};
use std::sync::Arc;
use std::time::Instant;

/// Attempts at one point before it is given up.
const SWEEP_ATTEMPTS: u32 = 3;
/// Locations given up on in a row before the run stops: an instrument that
/// returns nothing usable would otherwise walk through every candidate.
const SKIPS_IN_A_ROW: u32 = 5;

/// A curve taken, and where the tip really was.
struct Taken {
    sweep: Sweep,
    x_nm: f64,
    y_nm: f64,
}

impl Engine {
    /// Decides, moves, sweeps and records one step. `false` when nothing is left.
    pub(super) fn step(&mut self) -> Result<bool, Stop> {
        let t0 = Instant::now();
        let step = self.next_step();
        // The next curve of a location whose set of protocols is not in yet:
        // no new decision, the same place.
        if let Some(open) = self.open_set() {
            return self.step_in_set(step, open, t0);
        }
        let Some(chosen) = self.choose(step)? else {
            return Ok(false);
        };
        let Chosen {
            row,
            col,
            decision,
            label: policy_label,
            journaled,
        } = chosen;
        let field = self.field.as_ref().expect("field built before steps");
        let candidate = field.candidates.find(row, col);
        let n_candidates = field.candidates.len() as u32;
        let decided = Decision {
            step,
            t_ms: now_ms(),
            row,
            col,
            policy: policy_label.clone(),
            score: decision.score,
            mean: decision.mean,
            std: decision.std,
            structure_novelty: decision.structure_novelty,
            spectral_novelty: decision.spectral_novelty,
            n_candidates,
            fit_ms: decision.fit_ms,
            score_ms: decision.score_ms,
        };
        // Journaled before the tip moves, so a crash resumes at this point;
        // the `decisions` row goes with the curve, one per location.
        if !journaled {
            self.writer.append(Entry::Intent {
                decision: decided.clone(),
                source: decision.source,
            })?;
        }
        self.emit(EngineEvent::Decided {
            step,
            row,
            col,
            source: decision.source,
        });
        self.publish_queue();
        let curve = Curve {
            step,
            at: (row, col),
            candidate,
            source: decision.source,
            label: policy_label,
            location: self.next_location(),
            protocol: 0,
            decided: Some((decided, journaled)),
        };
        self.take_curve(curve, t0)
    }

    /// The next protocol's curve at the open location.
    fn step_in_set(&mut self, step: u32, open: OpenSet, t0: Instant) -> Result<bool, Stop> {
        let field = self.field.as_ref().expect("field built before steps");
        let candidate = field.candidates.find(open.at.0, open.at.1);
        let curve = Curve {
            step,
            at: open.at,
            candidate,
            source: open.source,
            label: format!("protocol {} of {}", open.protocol + 1, self.protocol_count()),
            location: open.location,
            protocol: open.protocol,
            decided: None,
        };
        self.take_curve(curve, t0)
    }

    /// Moves, sweeps and records one curve of a location; the models learn
    /// from the location once its set is complete.
    fn take_curve(&mut self, curve: Curve, t0: Instant) -> Result<bool, Stop> {
        let Curve {
            step,
            at: (row, col),
            candidate,
            source,
            label: policy_label,
            location,
            protocol,
            decided,
        } = curve;
        let survey = self.survey.clone().expect("survey taken");
        let (x_asked, y_asked) = survey.pixel_to_nm(row, col);
        let request = self.protocols[protocol as usize];
        let Some(taken) = self.measure_at(x_asked, y_asked, row, col, &request)? else {
            if let (Some(k), Some(field)) = (candidate, self.field.as_mut()) {
                field.taken[k] = true;
            }
            if protocol > 0 {
                // The rest of the set is given up with this curve: the next
                // step goes to a new location.
                self.set_given_up = Some(location);
            }
            self.skipped_in_a_row += 1;
            // A tip check given up on checks nothing; the next one comes in turn.
            self.checking_tip = false;
            if self.skipped_in_a_row >= SKIPS_IN_A_ROW {
                return Err(Stop::NoUsableCurves(self.skipped_in_a_row));
            }
            return Ok(true);
        };
        self.skipped_in_a_row = 0;
        let Taken { sweep, x_nm, y_nm } = taken;
        #[cfg(feature = "test-hooks")]
        crate::hooks::panic_at("ENGINE_PANIC_AT_STEP", step as u64);
        let (m_row, m_col) = survey.nm_to_pixel(x_nm, y_nm);
        let off_nm = (x_nm - x_asked).hypot(y_nm - y_asked);
        let pixel_nm = survey.width_nm / survey.cols().max(1) as f64;
        if off_nm > 2.0 * pixel_nm {
            self.log(
                EventKind::SettledOffTarget,
                format!(
                    "step {step}: sent to ({x_asked:.1}, {y_asked:.1}) nm, settled at ({x_nm:.1}, {y_nm:.1}) nm, \
                     {off_nm:.1} nm away; recorded where it settled, pixel ({m_row}, {m_col})"
                ),
            )?;
        }
        let mut measured = Measurement {
            protocol: Some(protocol),
            location: Some(location),
            ..Measurement::of_sweep(
                step,
                now_ms(),
                (m_row, m_col),
                (x_nm, y_nm),
                source,
                sweep,
                self.plan.analysis.onset_current_a,
            )
        };
        self.judge_curve(&mut measured);
        let mut entries = Vec::with_capacity(2);
        if let Some((decided, journaled)) = decided {
            // A session from before intents were journaled has the decision's row already.
            if !(journaled && self.dangling_was_row) {
                entries.push(Entry::Decision(decided));
            }
            self.asked.push((row, col));
        }
        entries.push(Entry::Measurement(measured.clone()));
        self.writer.append_all(entries)?;
        self.dangling_was_row = false;
        let field = self.field.as_mut().expect("field built before steps");
        for k in [candidate, field.candidates.find(m_row, m_col)].into_iter().flatten() {
            field.taken[k] = true;
        }
        let failed = measured.failed_gate();
        self.drain_link_events()?;

        let took = t0.elapsed();
        self.steps_this_run += 1;
        let by_policy = measured.source == crate::record::Source::Policy;
        let beside_training = self.retrainer.in_flight().is_some();
        self.pace.step_taken(step as usize, took, by_policy, beside_training);
        let report = StepReport::of(
            &measured,
            self.plan.curves_budget(),
            policy_label,
            took,
            self.started.elapsed(),
            self.forecast().total(),
        );
        let shared = Arc::new(measured.clone());
        let (verdict, max_current_a) = (measured.quality, measured.max_current_a);
        self.history.push(measured);
        // The policy learns from a location once its whole set is in and
        // passed the gate (with one protocol: the curve, if it passed).
        if protocol + 1 == self.protocol_count()
            && let Some(learned) = self.learnable_set(location)
        {
            let field = self.field.as_mut().expect("field built before steps");
            field.policy.observe(candidate, &learned);
        }
        self.emit(EngineEvent::Measured(shared));
        self.emit(EngineEvent::Step(report));
        self.gate_passed_or_failed(step, (m_row, m_col), verdict)?;
        self.tip_after_curve(max_current_a, failed)?;
        self.drift_after_curve()?;
        Ok(true)
    }

    /// Picks the next location: a dangling decision from before a crash, then
    /// manual points, then pinned candidates, then seeds, then the policy.
    fn choose(&mut self, step: u32) -> Result<Option<Chosen>, Stop> {
        if let Some(dangling) = self.dangling.take()
            && dangling.decision.step == step
        {
            self.dangling_was_row = dangling.in_table;
            let d = dangling.decision;
            // A tip check cut short by the crash is still one.
            self.checking_tip = d.policy.starts_with(super::restore::TIP_CHECK_LABEL);
            let field = self.field.as_ref().expect("field built before steps");
            let k = field.candidates.find(d.row, d.col).unwrap_or(usize::MAX);
            let decision = Choice {
                candidate: k,
                source: dangling.source,
                score: d.score,
                mean: d.mean,
                std: d.std,
                structure_novelty: d.structure_novelty,
                spectral_novelty: d.spectral_novelty,
                fit_ms: d.fit_ms,
                score_ms: d.score_ms,
            };
            return Ok(Some(Chosen {
                row: d.row,
                col: d.col,
                decision,
                label: d.policy,
                journaled: true,
            }));
        }
        let field = self.field.as_mut().expect("field built before steps");
        if let Some((row, col)) = self.queue.next_manual() {
            let k = field.candidates.find(row, col).unwrap_or(usize::MAX);
            let label = match self.take_tip_check((row, col)) {
                Some(step) => format!("{} {step}", super::restore::TIP_CHECK_LABEL),
                None => match self.take_repeat((row, col)) {
                    Some(step) => format!("manual: repeat of step {step}"),
                    None => "manual".to_string(),
                },
            };
            return Ok(Some(Chosen::fresh(
                row,
                col,
                Choice::unscored(k, Source::Manual),
                &label,
            )));
        }
        let closed = field.closed();
        let open = |(row, col): (u32, u32)| field.candidates.find(row, col).is_some_and(|k| !closed[k]);
        if let Some((row, col)) = self.queue.next_pinned(open) {
            let k = field.candidates.find(row, col).expect("an open candidate");
            let label = format!("{} (moved up)", field.policy.kind().label());
            return Ok(Some(Chosen::fresh(
                row,
                col,
                Choice::unscored(k, Source::Policy),
                &label,
            )));
        }
        let seeds_done = self.history.iter().filter(|m| m.source == Source::Seed).count();
        if let Some(k) = field.seeds.next(seeds_done, &closed) {
            let (row, col) = field.candidates.site(k);
            return Ok(Some(Chosen::fresh(
                row,
                col,
                Choice::unscored(k, Source::Seed),
                "lhs-seed",
            )));
        }
        loop {
            let field = self.field.as_mut().expect("field built before steps");
            let closed = field.closed();
            let ctx = DecideContext {
                step,
                candidates: &field.candidates,
                taken: &closed,
            };
            let decided = field.policy.decide(&ctx);
            if let Some(why) = field.policy.failure() {
                // The policy's worker died: say so, and go on with a simpler one
                // that learns from every curve so far.
                let from = field.policy.kind();
                let to = crate::policy::fallback(from);
                self.log(
                    EventKind::PolicyFailed,
                    format!(
                        "{from} failed ({why}); continuing with {}",
                        to.map(|k| k.label()).unwrap_or("nothing")
                    ),
                )?;
                let Some(to) = to else {
                    return Err(Stop::Policy(format!("{from} failed: {why}")));
                };
                self.plan.policy.name = to;
                self.replace_policy(format!("policy is now {} after {from} failed", to.label()))?;
                continue;
            }
            let field = self.field.as_ref().expect("field built before steps");
            return Ok(decided.map(|d| {
                let (row, col) = field.candidates.site(d.candidate);
                let label = field.policy.kind().label().to_string();
                Chosen::fresh(row, col, d, &label)
            }));
        }
    }

    /// Moves and sweeps, retrying a failed sweep; `None` if the point is given up.
    /// Whatever the instrument returns is checked before it is believed.
    fn measure_at(
        &mut self,
        x_nm: f64,
        y_nm: f64,
        row: u32,
        col: u32,
        request: &SweepRequest,
    ) -> Result<Option<Taken>, Stop> {
        let request = *request;
        let served = self.instrument.sweep_served(&request);
        let limits = self.limits;
        let compliance = check::compliance_a(self.plan.safety.current_max_a, &limits);
        for attempt in 1..=SWEEP_ATTEMPTS {
            let result = (|| {
                if !self.engaged {
                    self.instrument.engage()?;
                    self.engaged = true;
                }
                let sent = self.drift_sent(x_nm, y_nm);
                let settled = self.instrument.move_to(sent.0, sent.1)?;
                check::settled(sent, settled, &limits)?;
                self.take_commands_mid_step();
                let sweep = self.instrument.sweep(&request)?;
                if let Err(e) = check::sweep(&served, &sweep, &limits, compliance) {
                    // A curve that broke its limits may have left the bias
                    // up: bring it to 0 V before anything else.
                    let _ = self.instrument.abort();
                    return Err(e);
                }
                // The film point measured: where it settled, less the drift.
                let (x_nm, y_nm) = self.drift_undone(settled.0, settled.1);
                Ok(Taken { sweep, x_nm, y_nm })
            })();
            match result {
                Ok(taken) => return Ok(Some(taken)),
                Err(e) if e.is_transient() || matches!(e, InstrumentError::BadArgument(_)) => {
                    self.drain_link_events()?;
                    let kind = if matches!(e, InstrumentError::BadReply(_)) {
                        EventKind::BadReply
                    } else {
                        EventKind::SweepFailed
                    };
                    self.log(kind, format!("({row}, {col}) attempt {attempt}/{SWEEP_ATTEMPTS}: {e}"))?;
                    if matches!(e, InstrumentError::BadArgument(_)) {
                        break;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.log(
            EventKind::SiteSkipped,
            format!("({row}, {col}) given up; the step goes to another point"),
        )?;
        Ok(None)
    }

    /// A pause asked for while the tip moves shows as "pausing" at once.
    fn take_commands_mid_step(&mut self) {
        while let Ok(cmd) = self.commands.try_recv() {
            if matches!(cmd, Command::Pause | Command::Quit) {
                self.set_state(RunState::Pausing);
            }
            self.requeue.push_back(cmd);
        }
    }
}

/// One curve to take: where, which protocol of which location, and the
/// decision that chose the location (its first curve only).
struct Curve {
    step: u32,
    at: (u32, u32),
    candidate: Option<usize>,
    source: crate::record::Source,
    label: String,
    location: u32,
    protocol: u32,
    /// The location's decision and whether its intent is journaled already.
    decided: Option<(Decision, bool)>,
}

/// Where the next curve goes, and why.
struct Chosen {
    row: u32,
    col: u32,
    decision: Choice,
    label: String,
    /// Its intent is in the journal already (a step resumed after a crash).
    journaled: bool,
}

impl Chosen {
    fn fresh(row: u32, col: u32, decision: Choice, label: &str) -> Self {
        Self {
            row,
            col,
            decision,
            label: label.to_string(),
            journaled: false,
        }
    }
}
