//! A session followed from its log (`dualscope watch`): the journal and the
//! part files read again every poll and what is new turned into the events a
//! running engine would have sent, so the console's panes work unchanged.
//! Reads only: no lock is taken (who runs the session is read from the
//! kernel's lock table) and nothing is written under the session folder.

use crate::engine::{ClusterView, EngineEvent, RunState, StepReport};
use crate::record::{Event, EventKind, Measurement};
use crate::store::{SessionLog, SessionStatus, StoreError, lock};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What has been told so far, to tell only what is new.
pub struct Follower {
    dir: PathBuf,
    measurements: usize,
    events: usize,
    survey_told: bool,
    /// Status, and the process running it, as last told.
    told: Option<(SessionStatus, Option<u32>)>,
    policy_told: Option<(crate::plan::PolicyKind, u64)>,
    regions_told: Option<Vec<crate::plan::Exclusion>>,
    rejected_told: Option<std::collections::BTreeSet<u32>>,
    /// The `embeddings` folder as last read (names of its parts).
    embeddings_seen: Vec<PathBuf>,
}

impl Follower {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            measurements: 0,
            events: 0,
            survey_told: false,
            told: None,
            policy_told: None,
            regions_told: None,
            rejected_told: None,
            embeddings_seen: Vec::new(),
        }
    }

    /// Whether the session has ended for good: finished, aborted or failed,
    /// and no process holds it.
    pub fn ended(&self) -> bool {
        matches!(
            self.told,
            Some((
                SessionStatus::Finished | SessionStatus::Aborted | SessionStatus::Failed,
                None
            ))
        )
    }

    /// Reads the log again; returns the events for what changed.
    pub fn poll(&mut self) -> Result<Vec<EngineEvent>, StoreError> {
        let log = SessionLog::load(&self.dir)?;
        let mut out = Vec::new();
        if self.told.is_none() {
            out.push(EngineEvent::Connected {
                idn: log.meta.instrument_idn.clone(),
                link: format!("watching {} (read-only)", self.dir.display()),
            });
        }
        if !self.survey_told
            && let Some(s) = &log.survey
        {
            self.survey_told = true;
            out.push(EngineEvent::SurveyImage(Arc::new(s.clone())));
        }
        let p = &log.plan.policy;
        let policy = (p.name, p.beta.to_bits());
        if self.policy_told != Some(policy) {
            self.policy_told = Some(policy);
            out.push(EngineEvent::PolicyChanged {
                policy: p.name,
                beta: p.beta,
            });
        }
        if self.regions_told.as_ref() != Some(&p.exclude) {
            self.regions_told = Some(p.exclude.clone());
            out.push(EngineEvent::Regions(p.exclude.clone()));
        }
        let rejected = crate::record::flag::rejected(&log.flags);
        if self.rejected_told.as_ref() != Some(&rejected) {
            out.push(EngineEvent::Rejected(rejected.iter().copied().collect()));
            self.rejected_told = Some(rejected);
        }
        let new = log.measurements.get(self.measurements..).unwrap_or_default();
        if self.measurements == 0 && !new.is_empty() {
            out.push(EngineEvent::History(Arc::new(new.to_vec())));
        } else {
            out.extend(new.iter().map(|m| EngineEvent::Measured(Arc::new(m.clone()))));
        }
        if let Some(last) = new.last() {
            out.push(EngineEvent::Step(step_report(&log, last)));
        }
        self.measurements = log.measurements.len();
        // The log sorts events by time: a note logged late with the earlier
        // time it was written at is counted here, but the row told may be
        // the one it pushed down (the events pane shows both in time order
        // once the watch starts again).
        for e in log.events.get(self.events..).unwrap_or_default() {
            out.push(EngineEvent::Logged(e.clone()));
        }
        self.events = self.events.max(log.events.len());
        let holder = lock::holder_pid(&self.dir);
        if self.told != Some((log.meta.status, holder)) {
            let was = self.told.replace((log.meta.status, holder));
            out.push(EngineEvent::State(state_of(log.meta.status, holder)));
            out.push(EngineEvent::Logged(Event {
                t_ms: crate::store::now_ms(),
                kind: EventKind::Other("watch".into()),
                detail: said(&log, holder, was.is_none()),
            }));
        }
        if let Some(view) = self.new_model(&log)? {
            out.push(EngineEvent::Clusters(Arc::new(view)));
        }
        Ok(out)
    }

    /// The newest model the session saved, when its `embeddings` changed.
    fn new_model(&mut self, log: &SessionLog) -> Result<Option<ClusterView>, StoreError> {
        let mut parts: Vec<PathBuf> = std::fs::read_dir(self.dir.join("embeddings"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        parts.sort();
        if parts == self.embeddings_seen {
            return Ok(None);
        }
        self.embeddings_seen = parts;
        let (Some(model), Some(survey)) = (crate::store::saved::newest_model(&self.dir)?, &log.survey) else {
            return Ok(None);
        };
        let truth = crate::instrument::ground_truth(&log.plan, survey);
        let samples = crate::analysis::samples(0, &log.plan, survey, &log.measurements, truth.as_deref());
        let Some((c, shown)) = crate::analysis::Clustered::saved(&samples, &model) else {
            return Ok(None);
        };
        Ok(Some(ClusterView {
            model_step: model.model_step,
            summaries: c.summaries.clone(),
            points: c
                .joint
                .iter()
                .zip(&c.labels)
                .map(|(z, &l)| (z[0], z.get(1).copied().unwrap_or(0.0), l as u32))
                .collect(),
            steps: shown.iter().map(|s| s.step).collect(),
            ari: c.ari,
            properties: Arc::new(crate::record::PropertyGrid::new(model.properties)),
        }))
    }
}

/// The console's word for a status and whether a process holds the session.
fn state_of(status: SessionStatus, holder: Option<u32>) -> RunState {
    match (status, holder) {
        (SessionStatus::Running, Some(_)) => RunState::Running,
        (SessionStatus::Running, None) => RunState::Idle,
        (SessionStatus::Paused, _) => RunState::Paused,
        (SessionStatus::Finished, _) => RunState::Finished,
        (SessionStatus::Aborted, _) => RunState::Aborted,
        (SessionStatus::Failed, _) => RunState::Failed,
    }
}

/// What the watch sees of who runs the session, in words.
fn said(log: &SessionLog, holder: Option<u32>, first: bool) -> String {
    let status = log.meta.status.label();
    let session = log.dir.display();
    match (log.meta.status, holder) {
        (_, Some(pid)) if first => format!("watching: {status}, run by pid {pid}"),
        (_, Some(pid)) => format!("{status}, run by pid {pid}"),
        (SessionStatus::Running, None) => {
            format!("no process runs it: it stopped without closing (crashed?); dualscope resume {session}")
        }
        (SessionStatus::Paused, None) => format!("paused, no process runs it: dualscope resume {session}"),
        (_, None) => format!("the session is {status}; q leaves the watch"),
    }
}

/// A progress line for the newest curve, as the engine would have sent it
/// (the time it took is the gap since the curve before).
fn step_report(log: &SessionLog, m: &Measurement) -> StepReport {
    let n = log.measurements.len();
    let gap = |a: &Measurement, b: &Measurement| Duration::from_millis((b.t_ms - a.t_ms).max(0) as u64);
    let took = n
        .checked_sub(2)
        .map(|k| gap(&log.measurements[k], m))
        .unwrap_or_default();
    let first = log.measurements.first().unwrap_or(m);
    let budget = log.plan.curves_budget();
    // The pace of the last curves, for the curves left (the training the
    // session waits for is not in the log).
    let recent = &log.measurements[n.saturating_sub(11)..];
    let per_curve = match recent {
        [a, .., b] => gap(a, b) / (recent.len() as u32 - 1),
        _ => Duration::ZERO,
    };
    let policy = log
        .decisions
        .iter()
        .find(|d| d.step == m.step)
        .map(|d| d.policy.clone());
    StepReport::of(
        m,
        budget,
        policy.unwrap_or_default(),
        took,
        gap(first, m),
        per_curve * budget.saturating_sub(m.step + 1),
    )
}
