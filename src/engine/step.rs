//! One step: choose where, journal the decision, move, sweep (retrying a
//! failed sweep), journal the curve, and let the policy learn from it.

use super::{Command, EngineEvent, RunState, StepReport, Stop};
use crate::engine::Engine;
use crate::instrument::{InstrumentError, SweepRequest};
use crate::policy::{DecideContext, Decision};
use crate::scalar::CurveSummary;
use crate::store::{DecisionRow, Entry, MeasurementRow, Source, now_ms};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attempts at one point before it is given up.
const SWEEP_ATTEMPTS: u32 = 3;

impl Engine {
    /// Decides, moves, sweeps and records one step. `false` when nothing is left.
    pub(super) fn step(&mut self) -> Result<bool, Stop> {
        let t0 = Instant::now();
        let step = self.next_step();
        let Some((row, col, decision, policy_label)) = self.choose(step) else {
            return Ok(false);
        };
        let field = self.field.as_ref().expect("field built before steps");
        let candidate = field.candidates.find(row, col);
        let n_candidates = field.candidates.len() as u32;
        let survey = self.survey.clone().expect("survey taken");
        let (x_nm, y_nm) = survey.pixel_to_nm(row, col);
        self.writer.append(Entry::Decision(DecisionRow {
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
        }))?;
        self.emit(EngineEvent::Decided {
            step,
            row,
            col,
            source: decision.source,
        });
        self.publish_queue();

        let Some(sweep) = self.measure_at(x_nm, y_nm, row, col)? else {
            if let (Some(k), Some(field)) = (candidate, self.field.as_mut()) {
                field.taken[k] = true;
            }
            return Ok(true);
        };
        let summary = CurveSummary::of(&sweep.bias_v, &sweep.current_a, self.plan.analysis.onset_current_a);
        let measured = MeasurementRow {
            step,
            t_ms: now_ms(),
            row,
            col,
            x_nm,
            y_nm,
            source: decision.source,
            bias_v: sweep.bias_v,
            current_a: sweep.current_a,
            sweep_end: sweep.end,
            hysteresis_area: summary.hysteresis_area,
            onset_v: if summary.onset_v.is_nan() {
                None
            } else {
                Some(summary.onset_v)
            },
            max_current_a: summary.max_current_a,
        };
        self.writer.append(Entry::Measurement(measured.clone()))?;
        let field = self.field.as_mut().expect("field built before steps");
        if let Some(k) = candidate {
            field.taken[k] = true;
        }
        field.policy.observe(candidate, &measured);
        self.drain_link_events()?;

        let took = t0.elapsed();
        self.steps_this_run += 1;
        self.step_times.push_back(took);
        if self.step_times.len() > 20 {
            self.step_times.pop_front();
        }
        let mean = self.step_times.iter().sum::<Duration>() / self.step_times.len() as u32;
        let remaining = self.plan.policy.budget.saturating_sub(step + 1);
        let report = StepReport {
            step,
            budget: self.plan.policy.budget,
            row,
            col,
            x_nm,
            y_nm,
            source: measured.source,
            policy: policy_label,
            sweep_end: measured.sweep_end,
            points: measured.bias_v.len(),
            max_current_a: measured.max_current_a,
            hysteresis_area: measured.hysteresis_area,
            onset_v: measured.onset_v,
            took,
            elapsed: self.started.elapsed(),
            eta: mean * remaining,
        };
        let shared = Arc::new(measured.clone());
        self.history.push(measured);
        self.emit(EngineEvent::Measured(shared));
        self.emit(EngineEvent::Step(report));
        Ok(true)
    }

    /// Picks the next location: a dangling decision from before a crash, then
    /// manual points, then pinned candidates, then seeds, then the policy.
    fn choose(&mut self, step: u32) -> Option<(u32, u32, Decision, String)> {
        let field = self.field.as_mut().expect("field built before steps");
        if let Some(d) = self.dangling.take()
            && d.step == step
        {
            let source = match d.policy.as_str() {
                "manual" => Source::Manual,
                "lhs-seed" => Source::Seed,
                "random" => Source::Random,
                "grid" => Source::Grid,
                _ => Source::Policy,
            };
            let k = field.candidates.find(d.row, d.col).unwrap_or(0);
            let decision = Decision {
                candidate: k,
                source,
                score: d.score,
                mean: d.mean,
                std: d.std,
                structure_novelty: d.structure_novelty,
                spectral_novelty: d.spectral_novelty,
                fit_ms: d.fit_ms,
                score_ms: d.score_ms,
            };
            return Some((d.row, d.col, decision, d.policy));
        }
        if let Some((row, col)) = self.manual.pop_front() {
            let k = field.candidates.find(row, col).unwrap_or(usize::MAX);
            return Some((row, col, Decision::unscored(k, Source::Manual), "manual".into()));
        }
        while let Some((row, col)) = self.pinned.pop_front() {
            let Some(k) = field.candidates.find(row, col) else {
                continue;
            };
            if !field.taken[k] {
                let label = format!("{} (moved up)", field.policy.kind().label());
                return Some((row, col, Decision::unscored(k, Source::Policy), label));
            }
        }
        let seeds_done = self.history.iter().filter(|m| m.source == Source::Seed).count();
        if seeds_done < field.seeds.len()
            && let Some(&k) = field.seeds.iter().find(|&&k| !field.taken[k])
        {
            let (row, col) = field.candidates.site(k);
            return Some((row, col, Decision::unscored(k, Source::Seed), "lhs-seed".into()));
        }
        let ctx = DecideContext {
            step,
            candidates: &field.candidates,
            taken: &field.taken,
        };
        field.policy.decide(&ctx).map(|d| {
            let (row, col) = field.candidates.site(d.candidate);
            (row, col, d, field.policy.kind().label().to_string())
        })
    }

    /// Moves and sweeps, retrying a failed sweep; `None` if the point is given up.
    fn measure_at(
        &mut self,
        x_nm: f64,
        y_nm: f64,
        row: u32,
        col: u32,
    ) -> Result<Option<crate::instrument::Sweep>, Stop> {
        let request: SweepRequest = self.plan.sweep;
        for attempt in 1..=SWEEP_ATTEMPTS {
            let result = (|| {
                if !self.engaged {
                    self.instrument.engage()?;
                    self.engaged = true;
                }
                self.instrument.move_to(x_nm, y_nm)?;
                self.take_commands_mid_step();
                self.instrument.sweep(&request)
            })();
            match result {
                Ok(sweep) => return Ok(Some(sweep)),
                Err(e) if e.is_transient() || matches!(e, InstrumentError::BadArgument(_)) => {
                    self.drain_link_events()?;
                    self.log(
                        "sweep_failed",
                        format!("({row}, {col}) attempt {attempt}/{SWEEP_ATTEMPTS}: {e}"),
                    )?;
                    if matches!(e, InstrumentError::BadArgument(_)) {
                        break;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.log(
            "site_skipped",
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
