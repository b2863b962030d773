//! `report.md`: where the data came from, the clusters, every figure with
//! its caption, and what the numbers mean.

use crate::analysis::Clustered;

/// What a report says about where its data came from.
pub struct Provenance<'a> {
    pub session_id: &'a str,
    /// When the session started, as the reader's clock shows it.
    pub started: String,
    pub instrument: &'a str,
    pub plan: &'a crate::plan::SessionPlan,
}

/// What each figure shows, for its caption.
fn caption(stem: &str) -> &'static str {
    match stem {
        "latent_map" => {
            "The joint latent map of the first dual VAE (the mean of the image and the aligned spectral \
             latent of each measured location, first two dimensions), coloured by cluster."
        }
        "cluster_iv" => {
            "The mean I–V curve of each cluster, up branch solid and down branch dashed, with a band of \
             ±1 standard deviation across its curves."
        }
        "cluster_iv_semilog" => {
            "The same means as |I| on a logarithmic axis, where the onset and the low-current branches show \
             (currents below a ten-thousandth of the largest are drawn at that floor)."
        }
        "cluster_examples" => {
            "Three measured curves of each cluster, the ones nearest the cluster's centre in the joint latent \
             map (its typical curves, not its extremes), on one current scale; the legend gives each curve's step."
        }
        "discovery" => {
            "How soon the policy reached each cluster: the measured locations in each cluster against the \
             number of curves measured; the dashed line is the end of the seeds."
        }
        "measured_iv" => {
            "Every measured I–V curve, coloured by step (up branch solid, down branch dashed), linear and \
             semi-log."
        }
        "topography_clusters" => "The survey topography with every measured location coloured by its cluster.",
        "hysteresis_by_cluster" => "The hysteresis loop area of every curve by cluster; the bar is the cluster's mean.",
        "loop_against_bias" => {
            "Each cluster's mean hysteresis loop area (±1 sd) under each sweep of the locations' set, against \
             that sweep's top bias: ion migration opens a loop above a threshold bias, a junction's under every range."
        }
        "acquisition_path" => {
            "The order the locations were measured in, over the survey: colour by step (the bar), the \
             Latin-hypercube seeds as squares."
        }
        "predicted_loop_area" => {
            "The loop area predicted at every candidate location (see `property_map`): what the dual VAE \
             reads from the topography (the members' mean), plus, with `[analysis] property_kriging` (the \
             default), what the measured curves say it misses; measured locations as points."
        }
        "predicted_max_current" => "The predicted maximum current at every candidate location, as above.",
        "predicted_onset" => "The predicted onset bias at every candidate location, as above.",
        _ => "",
    }
}

/// The Markdown report beside the figures: where the data came from, the
/// clusters, every figure with a caption, and what the numbers mean.
/// Without clusters (a session too short to cluster), `notes` say why.
pub fn markdown(
    from: &Provenance,
    clusters: Option<&Clustered>,
    samples: usize,
    stems: &[String],
    notes: &[String],
) -> String {
    let p = from.plan;
    let mut md = format!("# dualscope report: session {}\n\n", from.session_id);
    md.push_str(&format!(
        "Session started {}; instrument `{}`; policy {} (budget {}, {} seeds, seed {}).\n\n",
        from.started, from.instrument, p.policy.name, p.policy.budget, p.policy.seeds, p.seed
    ));
    md.push_str(&format!(
        "Survey {}×{} px over {:.0}×{:.0} nm. Sweep {} V → {} V → {} V in {} points, {} ms a point; \
         compliance {:.1e} A.\n\n",
        p.survey.rows,
        p.survey.cols,
        p.survey.width_nm,
        p.survey.height_nm,
        p.sweep.v_start,
        p.sweep.v_max,
        p.sweep.v_end,
        p.sweep.points,
        p.sweep.dwell_ms,
        p.safety.current_max_a
    ));
    let protocols = p.sweep.protocols();
    if protocols.len() > 1 {
        let each: Vec<String> = protocols
            .iter()
            .map(|w| {
                format!(
                    "{} → {} → {} V in {} points at {} ms",
                    w.v_start, w.v_max, w.v_end, w.points, w.dwell_ms
                )
            })
            .collect();
        md.push_str(&format!(
            "Each location was swept {} times, in this order (`[[sweep.protocol]]`): {}; the budget counts locations.\n\n",
            protocols.len(),
            each.join("; ")
        ));
    }
    for note in notes {
        md.push_str(&format!("{note}\n\n"));
    }
    match clusters {
        Some(a) => {
            md.push_str(&format!(
                "{samples} measured locations; {} clusters {} ({}).\n\n",
                a.summaries.len(),
                a.how,
                a.source
            ));
            if let Some(ari) = a.ari {
                md.push_str(&format!(
                    "Agreement with the simulator's ground-truth motifs: adjusted Rand index {ari:.3}.\n\n"
                ));
            }
            md.push_str("## Clusters\n\n");
            md.push_str(&crate::analysis::summary::table(&a.summaries));
            md.push_str(&crate::analysis::summary::protocol_table(&a.summaries, p));
        }
        None => md.push_str(&format!("{samples} measured locations; no clusters.\n")),
    }
    md.push_str("\n## Figures\n\n");
    for s in stems {
        md.push_str(&format!("![{s}]({s}.png) ([svg]({s}.svg))\n\n*{}*\n\n", caption(s)));
    }
    md.push_str(&format!(
        "## Definitions\n\n\
         - **hysteresis loop area**: |∮ I dV| over the sweep, the area between the up and the down branch (V·A; \
           shown in V·pA).\n\
         - **onset**: the first bias on the up branch where |I| exceeds {:.0e} A (`analysis.onset_current_a`), \
           interpolated between samples.\n\
         - **max current**: the largest |I| of the curve.\n\
         - **relief**: the mean height of the 4×4 px under the tip minus the patch's mean (nm; negative: a pit or \
           groove); **depth**: the patch's mean minus its lowest point (nm).\n\
         - **clusters**: a Gaussian mixture on the dual VAE's joint latent map, the number of clusters by BIC \
           (or fixed by the settings); with several trainings, their consensus.\n\
         - **adjusted Rand index**: agreement of two labellings, 1 identical, 0 as by chance.\n\
         - **predicted maps**: each candidate patch through the image encoder, the shared latent and the spectral \
           decoder of each trained model, reduced as a measured curve is; the members' mean.\n",
        p.analysis.onset_current_a
    ));
    md
}
