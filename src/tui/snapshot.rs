//! What the console shows: the engine's events folded into one view of the
//! experiment. The console renders from this and nothing else, so a test can
//! script it and a render never waits on the engine.

use crate::engine::{ClusterView, EngineEvent, FinalTraining, QueueEntry, RunState, StepReport};
use crate::plan::{PolicyKind, SessionPlan};
use crate::record::EventKind;
use crate::record::Survey;
use crate::record::{Event, Measurement, Source};
use std::collections::VecDeque;
use std::sync::Arc;

/// How many curves the sparkline strip shows at most.
pub const RECENT: usize = 12;
/// How many events the events pane keeps.
pub const EVENTS: usize = 500;

/// A measured location on the map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub step: u32,
    pub row: u32,
    pub col: u32,
    pub source: Source,
    pub hysteresis_area: f64,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub session: String,
    pub state: RunState,
    pub idn: String,
    pub link: String,
    pub policy: PolicyKind,
    pub beta: f64,
    pub budget: u32,
    /// Sweeps a location gets (`[[sweep.protocol]]`): the models count
    /// locations, not curves, when there are several.
    pub protocols: u32,
    pub survey: Option<Arc<Survey>>,
    pub points: Vec<Point>,
    /// Every curve of the session, in step order (shared with the engine's
    /// events, so a night of curves costs the console pointers, not copies).
    pub curves: Vec<Arc<Measurement>>,
    /// Hysteresis area of every curve, in step order.
    pub hysteresis: Vec<f64>,
    pub queue: Vec<QueueEntry>,
    /// Regions kept free of seeds and policy points.
    pub regions: Vec<crate::plan::Exclusion>,
    /// Steps whose curves are rejected (the models leave them out).
    pub rejected: std::collections::BTreeSet<u32>,
    /// The run's latest drift estimate (x, y nm), once it has one.
    pub drift_nm: Option<[f64; 2]>,
    pub clusters: Option<Arc<ClusterView>>,
    pub events: VecDeque<Event>,
    pub last: Option<StepReport>,
    /// The wait for the last model, once every curve is in.
    pub finishing: Option<FinalTraining>,
    /// Where the tip is going or sits.
    pub tip: Option<(u32, u32)>,
    pub retries: u32,
    pub reconnects: u32,
    pub errors: u32,
    /// Curves per minute over the last steps.
    pub rate_per_min: f64,
}

impl Snapshot {
    pub fn new(session: String, plan: &SessionPlan) -> Self {
        Self {
            session,
            state: RunState::Idle,
            idn: String::new(),
            link: String::new(),
            policy: plan.policy.name,
            beta: plan.policy.beta,
            budget: plan.curves_budget(),
            protocols: plan.sweep.protocols().len() as u32,
            survey: None,
            points: Vec::new(),
            curves: Vec::new(),
            hysteresis: Vec::new(),
            queue: Vec::new(),
            regions: plan.policy.exclude.clone(),
            rejected: Default::default(),
            drift_nm: None,
            clusters: None,
            events: VecDeque::new(),
            last: None,
            finishing: None,
            tip: None,
            retries: 0,
            reconnects: 0,
            errors: 0,
            rate_per_min: 0.0,
        }
    }

    pub fn steps(&self) -> u32 {
        self.points.len() as u32
    }

    /// The final training, while the session waits for it.
    pub fn final_training(&self) -> Option<&FinalTraining> {
        self.finishing.as_ref().filter(|_| self.state == RunState::Finishing)
    }

    /// Elapsed time and ETA: the final training's while the session waits for
    /// it, the last known elapsed time and nothing to go once the run has
    /// ended, else the last curve's.
    pub fn clock(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        if let Some(f) = self.final_training() {
            return Some((f.elapsed, f.eta));
        }
        let last = self.last.as_ref().map(|r| (r.elapsed, r.eta));
        if !matches!(self.state, RunState::Finished | RunState::Aborted | RunState::Failed) {
            return last;
        }
        let finishing = self.finishing.as_ref().map(|f| (f.elapsed, f.eta));
        let elapsed = finishing.into_iter().chain(last).map(|(e, _)| e).max()?;
        Some((elapsed, std::time::Duration::ZERO))
    }

    fn add_measurement(&mut self, m: Arc<Measurement>) {
        self.points.push(Point {
            step: m.step,
            row: m.row,
            col: m.col,
            source: m.source,
            hysteresis_area: m.hysteresis_area,
        });
        self.hysteresis.push(m.hysteresis_area);
        self.tip = Some((m.row, m.col));
        self.curves.push(m);
    }

    /// Folds one engine event in; `true` if anything visible changed.
    pub fn apply(&mut self, event: EngineEvent) -> bool {
        match event {
            EngineEvent::State(s) => self.state = s,
            EngineEvent::Connected { idn, link } => {
                self.idn = idn;
                self.link = link;
            }
            EngineEvent::Survey { .. } => {}
            EngineEvent::SurveyImage(s) => self.survey = Some(s),
            EngineEvent::History(rows) => {
                for m in rows.iter() {
                    self.add_measurement(Arc::new(m.clone()));
                }
            }
            EngineEvent::Decided { row, col, .. } => self.tip = Some((row, col)),
            EngineEvent::Measured(m) => self.add_measurement(m),
            EngineEvent::Step(r) => {
                let secs = r.took.as_secs_f64();
                if secs > 0.0 {
                    let now = 60.0 / secs;
                    self.rate_per_min = if self.rate_per_min == 0.0 {
                        now
                    } else {
                        0.8 * self.rate_per_min + 0.2 * now
                    };
                }
                self.last = Some(r);
            }
            EngineEvent::Logged(e) => {
                match &e.kind {
                    EventKind::Retry => self.retries += 1,
                    EventKind::Reconnect => self.reconnects += 1,
                    k if k.is_fault() => self.errors += 1,
                    _ => {}
                }
                self.events.push_back(e);
                while self.events.len() > EVENTS {
                    self.events.pop_front();
                }
            }
            EngineEvent::Finishing(f) => self.finishing = Some(f),
            EngineEvent::Queue(q) => self.queue = q,
            EngineEvent::Regions(r) => self.regions = r,
            EngineEvent::Rejected(steps) => self.rejected = steps.into_iter().collect(),
            EngineEvent::Drift(d) => self.drift_nm = Some(d),
            EngineEvent::Clusters(c) => self.clusters = Some(c),
            EngineEvent::PolicyChanged { policy, beta } => {
                self.policy = policy;
                self.beta = beta;
            }
        }
        true
    }

    /// The link in one word, for the status line.
    pub fn link_health(&self) -> &'static str {
        if self.errors > 0 && self.state == RunState::Failed {
            "lost"
        } else if self.reconnects > 0 || self.retries > 5 {
            "noisy"
        } else {
            "good"
        }
    }
}
