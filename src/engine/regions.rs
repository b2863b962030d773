//! Excluded regions changed from the console between two curves: each change
//! is in the plan the session keeps (so a resumed run has it) and an event.

use super::{Engine, EngineEvent, Stop};
use crate::plan::Exclusion;
use crate::record::EventKind;

impl Engine {
    pub(super) fn exclude(&mut self, region: Exclusion) -> Result<(), Stop> {
        let survey = self.survey.clone().expect("survey before commands");
        let key = format!("policy.exclude[{}]", self.plan.policy.exclude.len());
        if let Err(e) = crate::plan::check_exclusion(&key, &region, survey.width_nm, survey.height_nm) {
            self.log(EventKind::ExcludeRefused, e.to_string())?;
            return Ok(());
        }
        self.plan.policy.exclude.push(region);
        let n = self.plan.policy.exclude.len();
        self.regions_changed(
            EventKind::ExcludeAdded,
            format!("region {n}: {region}; no seed or policy point lands in it"),
        )
    }

    pub(super) fn include(&mut self, index: usize) -> Result<(), Stop> {
        if index >= self.plan.policy.exclude.len() {
            self.log(
                EventKind::ExcludeRefused,
                format!("no region {} to take back", index + 1),
            )?;
            return Ok(());
        }
        let region = self.plan.policy.exclude.remove(index);
        self.regions_changed(
            EventKind::ExcludeRemoved,
            format!("region {}: {region} is open again", index + 1),
        )
    }

    fn regions_changed(&mut self, kind: EventKind, detail: String) -> Result<(), Stop> {
        self.writer.set_plan(&self.plan)?;
        self.log(kind, detail)?;
        let survey = self.survey.clone().expect("survey before commands");
        if let Some(field) = &mut self.field {
            field.barred = crate::policy::exclude::barred(&self.plan.policy.exclude, &field.candidates, &survey);
        }
        self.emit(EngineEvent::Regions(self.plan.policy.exclude.clone()));
        self.rank_afresh();
        Ok(())
    }
}
