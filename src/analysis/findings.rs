//! The paper's two findings, read off a cluster summary: the cluster led by
//! triple junctions loops most, the cluster led by asymmetric boundaries
//! conducts least. Only where the truth is known (the simulator) can a
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
}
