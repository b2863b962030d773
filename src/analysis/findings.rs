//! The paper's findings, read off a cluster summary: the cluster led by
//! triple junctions loops most, the cluster led by asymmetric boundaries
//! conducts least, and (with several sweeps a location) the junction-led
//! cluster loops under every bias range while the interior-led one does not
//! under the lowest. Only where the truth is known (the simulator) can a
//! cluster be "led by" a motif.

use super::summary::ClusterSummary;
use crate::record::Motif;

/// One finding checked on one clustering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// The cluster the finding is about: of those whose most common motif is
    /// the one in question, the most extreme.
    pub cluster: usize,
    /// Whether that cluster is the most extreme of all clusters.
    pub holds: bool,
}

/// Of the clusters led by `motif`, the one with the largest `key` (or the
/// smallest, without `largest`), and whether no cluster goes beyond it.
fn extreme_of_led(
    summaries: &[ClusterSummary],
    motif: Motif,
    key: impl Fn(&ClusterSummary) -> f64,
    largest: bool,
) -> Option<Finding> {
    // Order so that "greater" is "more extreme" either way.
    let extremity = |s: &ClusterSummary| if largest { key(s) } else { -key(s) };
    let led = summaries
        .iter()
        .filter(|s| s.dominant.is_some_and(|(m, _)| m == motif))
        .max_by(|a, b| extremity(a).total_cmp(&extremity(b)))?;
    Some(Finding {
        cluster: led.cluster,
        holds: summaries.iter().all(|s| extremity(s) <= extremity(led)),
    })
}

/// Finding 1: the junction-led cluster has the largest mean hysteresis area.
/// `None` when no cluster is led by triple junctions.
pub fn junctions_loop_most(summaries: &[ClusterSummary]) -> Option<Finding> {
    extreme_of_led(summaries, Motif::TripleJunction, |s| s.hysteresis_area.mean, true)
}

/// Finding 2: the asymmetric-boundary-led cluster has the lowest mean maximum
/// current. `None` when no cluster is led by asymmetric boundaries.
pub fn asymmetric_conducts_least(summaries: &[ClusterSummary]) -> Option<Finding> {
    extreme_of_led(summaries, Motif::GbAsymmetric, |s| s.max_current_a.mean, false)
}

/// A cluster loops under a protocol when its mean loop area there is at
/// least this share of its largest over the protocols. Fixed from the
/// physics before any film was looked at, not tuned: a loop a fifth the
/// size of its widest is plainly open, one a twentieth of it (what the
/// simulator's interiors give well under their ion threshold) is not.
pub const LOOPS_SHARE: f64 = 0.2;

/// Finding 3: the junction-led cluster (the one that loops most under the
/// lowest range, of those led by junctions) loops under every protocol,
/// and the interior-led cluster (the one that loops least there) does not
/// loop under the protocol of the lowest top bias. `top_v` is each
/// protocol's largest |bias|, in the plan's order. `None` without two
/// protocols, or without a cluster led by each motif.
pub fn junctions_loop_under_every_bias(summaries: &[ClusterSummary], top_v: &[f64]) -> Option<Finding> {
    if top_v.len() < 2 {
        return None;
    }
    let lowest = (0..top_v.len()).min_by(|a, b| top_v[*a].total_cmp(&top_v[*b]))?;
    let area = |s: &ClusterSummary, p: usize| s.protocol_areas.get(p).map_or(f64::NAN, |a| a.mean);
    let widest = |s: &ClusterSummary| (0..top_v.len()).map(|p| area(s, p)).fold(0.0, f64::max);
    let loops = |s: &ClusterSummary, p: usize| area(s, p) >= LOOPS_SHARE * widest(s);
    let led = |m: Motif| {
        summaries
            .iter()
            .filter(move |s| s.dominant.is_some_and(|(d, _)| d == m))
    };
    let junction = led(Motif::TripleJunction).max_by(|a, b| area(a, lowest).total_cmp(&area(b, lowest)))?;
    let interior = led(Motif::GrainInterior).min_by(|a, b| area(a, lowest).total_cmp(&area(b, lowest)))?;
    Some(Finding {
        cluster: junction.cluster,
        holds: (0..top_v.len()).all(|p| loops(junction, p)) && !loops(interior, lowest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summary::Stat;

    fn stat(mean: f64) -> Stat {
        Stat { mean, sd: 0.0, n: 1 }
    }

    fn cluster(c: usize, motif: Motif, area: f64, current: f64) -> ClusterSummary {
        ClusterSummary {
            cluster: c,
            size: 10,
            hysteresis_area: stat(area),
            protocol_areas: vec![stat(area)],
            onset_v: stat(0.5),
            max_current_a: stat(current),
            bias_v: Vec::new(),
            mean_current_a: Vec::new(),
            sd_current_a: Vec::new(),
            relief_nm: stat(0.0),
            depth_nm: stat(0.0),
            bend_across_nm: stat(0.0),
            bend_along_nm: stat(0.0),
            dominant: Some((motif, 0.6)),
            reading: String::new(),
        }
    }

    #[test]
    fn the_findings_hold_or_fail_by_the_led_clusters_extremes() {
        let mut s = vec![
            cluster(0, Motif::GrainInterior, 10.0, 300.0),
            cluster(1, Motif::TripleJunction, 150.0, 700.0),
            cluster(2, Motif::TripleJunction, 330.0, 1100.0),
            cluster(3, Motif::GbAsymmetric, 5.0, 50.0),
        ];
        // Of two junction clusters the loopiest speaks for them.
        assert_eq!(
            junctions_loop_most(&s),
            Some(Finding {
                cluster: 2,
                holds: true
            })
        );
        assert_eq!(
            asymmetric_conducts_least(&s),
            Some(Finding {
                cluster: 3,
                holds: true
            })
        );
        // A groove cluster that loops more, an interior one that conducts less.
        s.push(cluster(4, Motif::GbGroove, 400.0, 40.0));
        assert_eq!(
            junctions_loop_most(&s),
            Some(Finding {
                cluster: 2,
                holds: false
            })
        );
        assert_eq!(
            asymmetric_conducts_least(&s),
            Some(Finding {
                cluster: 3,
                holds: false
            })
        );
        // No cluster led by the motif: nothing to judge.
        s.retain(|c| c.dominant.is_some_and(|(m, _)| m != Motif::GbAsymmetric));
        assert_eq!(asymmetric_conducts_least(&s), None);
    }

    #[test]
    fn junctions_loop_under_every_bias_and_interiors_not_under_the_lowest() {
        let with = |c: usize, motif: Motif, areas: &[f64]| ClusterSummary {
            protocol_areas: areas.iter().map(|a| stat(*a)).collect(),
            ..cluster(c, motif, areas.iter().sum(), 100.0)
        };
        let tops = [1.0, 1.5, 2.0];
        let holds = vec![
            with(0, Motif::GrainInterior, &[0.5, 12.0, 30.0]),
            with(1, Motif::TripleJunction, &[20.0, 60.0, 90.0]),
            with(2, Motif::GbGroove, &[3.0, 20.0, 40.0]),
        ];
        assert_eq!(
            junctions_loop_under_every_bias(&holds, &tops),
            Some(Finding {
                cluster: 1,
                holds: true
            })
        );
        // Interiors that loop under the lowest range too: it does not hold.
        let mut open = holds.clone();
        open[0] = with(0, Motif::GrainInterior, &[10.0, 12.0, 30.0]);
        assert!(!junctions_loop_under_every_bias(&open, &tops).unwrap().holds);
        // Junctions whose loop closes under the lowest range: it does not hold.
        let mut closed = holds.clone();
        closed[1] = with(1, Motif::TripleJunction, &[5.0, 60.0, 90.0]);
        assert!(!junctions_loop_under_every_bias(&closed, &tops).unwrap().holds);
        // The lowest range is found by its top bias, wherever it stands.
        assert!(junctions_loop_under_every_bias(&holds, &[2.0, 1.5, 1.0]).is_some_and(|f| !f.holds));
        assert_eq!(junctions_loop_under_every_bias(&holds, &[1.5]), None);
        assert_eq!(junctions_loop_under_every_bias(&holds[1..], &tops), None);
    }
}
