//! The quality gate held to what a served simulator drew: its audit log
//! (`[sim] audit_log`) says, with artefacts on, which sweeps had no contact
//! and which were noisy; the session's verdicts, re-measures and trainings
//! must agree with it.

use dualscope::record::quality::NOISE_REFERENCE_MIN;
use dualscope::record::{Quality, Source};
use dualscope::store::SessionLog;
use std::collections::BTreeSet;
use std::path::Path;

/// What the instrument drew for one sweep.
#[derive(Debug, Clone, Copy)]
pub struct Drawn {
    pub no_contact: bool,
    pub noisy: bool,
}

/// One per sweep the simulator took, in order: the audit line's last two
/// words (the currents' factor, 0 for no contact, and the noise's).
pub fn audit_draws(path: &Path) -> Vec<Drawn> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let w: Vec<f64> = l.split_whitespace().map(|v| v.parse().unwrap()).collect();
            assert_eq!(w.len(), 6, "an audit line with the artefacts' draws: {l}");
            Drawn {
                no_contact: w[4] == 0.0,
                noisy: w[5] > 1.0,
            }
        })
        .collect()
}

/// Every verdict is what the instrument drew: a noisy sweep is `noisy` once
/// the gate has its reference (enough quiet curves before it; before that
/// it is judged on contact alone), else a sweep without contact is
/// `no_contact`, else `ok`. Returns (no-contact curves, noisy curves judged so).
pub fn verdicts_as_drawn(log: &SessionLog, drawn: &[Drawn]) -> (usize, usize) {
    assert_eq!(drawn.len(), log.measurements.len(), "one audit line per curve");
    let (mut lost, mut noisy, mut quiet_before) = (0, 0, 0);
    for (m, d) in log.measurements.iter().zip(drawn) {
        let got = m.quality.expect("the gate judged every curve");
        if d.noisy && quiet_before >= NOISE_REFERENCE_MIN {
            assert_eq!(got, Quality::Noisy, "step {}: drawn noisy", m.step);
            noisy += 1;
        } else if d.noisy {
            assert!(
                matches!(got, Quality::Ok | Quality::NoContact),
                "step {}: noisy before the gate can tell, judged {got:?}",
                m.step
            );
        } else if d.no_contact {
            assert_eq!(got, Quality::NoContact, "step {}: drawn without contact", m.step);
            lost += 1;
        } else {
            assert_eq!(got, Quality::Ok, "step {}: an ordinary curve", m.step);
        }
        quiet_before += usize::from(!d.noisy);
    }
    (lost, noisy)
}

/// Each failed curve's place is measured once more (a manual point), never
/// a third time; and the last training's embeddings hold every curve that
/// passed the gate and none that failed it.
pub fn failed_curves_measured_again_and_never_learned(session: &Path, log: &SessionLog) {
    let last = log.measurements.last().map(|m| m.step).unwrap_or(0);
    // A curve cut at the compliance limit is not measured again (it would
    // be cut again): only the tip's failures are.
    let the_tips = |m: &&dualscope::record::Measurement| m.failed_gate() && m.quality != Some(Quality::Compliance);
    for m in log.measurements.iter().filter(the_tips) {
        let place = (m.row, m.col);
        let first_at_place = !log
            .measurements
            .iter()
            .any(|n| n.step < m.step && (n.row, n.col) == place);
        let later: Vec<_> = log
            .measurements
            .iter()
            .filter(|n| n.step > m.step && (n.row, n.col) == place)
            .collect();
        if first_at_place && m.step < last {
            assert_eq!(later.len(), 1, "step {} measured again once", m.step);
            assert_eq!(later[0].source, Source::Manual);
        } else {
            assert!(later.is_empty(), "step {}: a place is measured again only once", m.step);
        }
    }
    let df = dualscope::store::reader::table_frame(session, "embeddings")
        .unwrap()
        .expect("the live dual VAE wrote embeddings");
    let model = dualscope::store::frame::get_u32(&df, "model_step").unwrap();
    let steps = dualscope::store::frame::get_u32(&df, "step").unwrap();
    let newest = *model.iter().max().unwrap();
    let learned: BTreeSet<u32> = model
        .iter()
        .zip(&steps)
        .filter(|(m, _)| **m == newest)
        .map(|(_, s)| *s)
        .collect();
    let passed: BTreeSet<u32> = log
        .measurements
        .iter()
        .filter(|m| !m.failed_gate())
        .map(|m| m.step)
        .collect();
    assert_eq!(
        learned, passed,
        "the last model learned from exactly the curves that passed"
    );
    assert_eq!(newest as usize, passed.len());
}
