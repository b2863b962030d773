//! Local I–V physics of the simulated film.
//!
//! A trap-limited diode-like response whose onset, magnitude and up/down
//! hysteresis depend on the local geometry: triple-junction pits trap charge and
//! show strong hysteresis at a bias set by the pit depth; asymmetric boundaries
//! suppress transport; grain interiors conduct moderately with small loops.
//! The parameters blend smoothly with distance to boundaries and junctions, so
//! the response is a function of geometry, not of the label.

use super::film::Site;
use crate::instrument::SweepRequest;
use crate::record::{Sweep, SweepEnd};
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// The shape of the response at one site.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Response {
    /// Softness of the onset.
    pub onset_width_v: f64,
    /// Width of the trap window in bias.
    pub trap_width_v: f64,
    /// |I(−V)| / |I(V)|.
    pub reverse_ratio: f64,
    /// Current scale.
    pub scale_a: f64,
    /// Bias where conduction turns on.
    pub onset_v: f64,
    /// Relative extra current on the down branch at the trap bias.
    pub hysteresis: f64,
    /// Bias at which trapped charge changes the current most.
    pub trap_v: f64,
    /// The bias a sweep must reach for mobile ions to take part here.
    pub ion_threshold_v: f64,
    /// Loops grow as the dwell per sample to this power.
    pub loop_rate_exponent: f64,
}

/// The sweep the loop strengths are stated for (`[film.physics]` loop
/// settings): up to 1.5 V at 2 ms a sample, the published sweep. At exactly
/// that sweep the loop is as stated, so a session of that one sweep is what
/// it was before the loops depended on the sweep.
const REFERENCE_TOP_V: f64 = 1.5;
const REFERENCE_DWELL_MS: f64 = 2.0;
/// How sharply the ions' part switches on about the threshold.
const ION_EDGE_V: f64 = 0.05;

impl Response {
    /// The response at `site` of the film `film` (its drawn plan: see
    /// [`super::film::Film::plan`]).
    pub fn at(site: &Site, film: &crate::plan::FilmPlan) -> Self {
        let (groove_width_nm, pit_radius_nm, p) = (film.groove_width_nm, film.pit_radius_nm, &film.physics);
        // Logistic edges a few nm wide: the trap chemistry of a boundary or a
        // junction acts where the tip actually sits in it, so the response
        // changes over the width of the groove or pit, not a grain away.
        let edge = |d: f64, width: f64| 1.0 / (1.0 + ((d - width) / (0.2 * width)).exp());
        let near_boundary = edge(site.boundary_nm, groove_width_nm);
        let (groove, asym) = if site.asymmetric {
            (0.0, near_boundary)
        } else {
            (near_boundary, 0.0)
        };
        let junction = edge(site.junction_nm, 0.8 * pit_radius_nm);
        let scale_a = p.interior_current_a
            * site.grain_conductance
            * (1.0 + p.groove_gain * groove)
            * (1.0 - p.asymmetric_suppression * asym)
            * (1.0 + p.junction_gain * junction);
        let onset_v = p.onset_v
            + p.groove_onset_shift_v * groove
            + p.asymmetric_onset_shift_v * asym
            + p.junction_onset_shift_v * junction;
        let hysteresis = p.loop_base
            + p.loop_groove * groove
            + p.loop_asymmetric * asym
            + p.loop_junction * junction * site.pit_factor;
        // Deeper pits trap at lower bias: junctions differ in *where* the loop opens.
        let junction_trap_v = 1.5 - 0.7 * site.pit_factor;
        let trap_v = p.trap_v + (junction_trap_v - p.trap_v) * junction;
        let ion_threshold_v = p.ion_threshold_v * (1.0 - 0.5 * junction);
        Self {
            onset_width_v: p.onset_width_v,
            trap_width_v: p.trap_width_v,
            reverse_ratio: p.reverse_ratio,
            scale_a,
            onset_v,
            hysteresis,
            trap_v,
            ion_threshold_v,
            loop_rate_exponent: p.loop_rate_exponent,
        }
    }

    /// What the loop is scaled by on `request`'s sweep, against the
    /// reference sweep: the share of mobile ions a sweep reaching its top
    /// bias sets moving (none well under the threshold), times that top
    /// over the reference's (a wider range drives them further), times
    /// the slower sweep's longer time. Exactly 1 on the reference sweep.
    pub fn loop_factor(&self, request: &SweepRequest) -> f64 {
        let top_v = request.top_v();
        let moving = |v: f64| 1.0 / (1.0 + (-(v - self.ion_threshold_v) / ION_EDGE_V).exp());
        let reach = moving(top_v) / moving(REFERENCE_TOP_V) * (top_v / REFERENCE_TOP_V);
        let rate = (request.dwell_ms / REFERENCE_DWELL_MS).powf(self.loop_rate_exponent);
        reach * rate
    }

    /// Noise-free current at `bias_v`, on the up (`false`) or down (`true`) branch.
    pub fn current_a(&self, bias_v: f64, down: bool) -> f64 {
        let v = bias_v.abs();
        let x = (v - self.onset_v) / self.onset_width_v;
        let softplus = if x > 30.0 { x } else { x.exp().ln_1p() };
        let mut i = self.scale_a * softplus + 0.02 * self.scale_a * v / self.onset_width_v;
        if down {
            let window = (-((v - self.trap_v) / self.trap_width_v).powi(2)).exp();
            i *= 1.0 + self.hysteresis * window;
        }
        if bias_v < 0.0 {
            i *= self.reverse_ratio;
        }
        i.copysign(bias_v)
    }

    /// Records a sweep: samples the current along the triangle, adds amplifier
    /// noise (white, with `slow_share` of its variance an AR(1) drift along
    /// the sweep), and stops at the compliance limit (the partial curve is kept).
    pub fn sweep(
        &self,
        request: &SweepRequest,
        compliance_a: f64,
        (noise_a, slow_share): (f64, f64),
        rng: &mut impl Rng,
    ) -> Sweep {
        let biases = request.biases_v();
        let this = Self {
            hysteresis: self.hysteresis * self.loop_factor(request),
            ..*self
        };
        let share = slow_share.clamp(0.0, 1.0);
        let white = Normal::new(0.0, noise_a.max(0.0) * (1.0 - share).sqrt()).expect("finite noise");
        // AR(1) with a correlation of ~20 samples, scaled to its share of the
        // variance at stationarity.
        const RHO: f64 = 0.95;
        let kick = Normal::new(0.0, noise_a.max(0.0) * (share * (1.0 - RHO * RHO)).sqrt()).expect("finite noise");
        let mut slow = if share > 0.0 {
            Normal::new(0.0, noise_a.max(0.0) * share.sqrt())
                .expect("finite noise")
                .sample(rng)
        } else {
            0.0
        };
        let mut bias_v = Vec::with_capacity(biases.len());
        let mut current_a = Vec::with_capacity(biases.len());
        let mut end = SweepEnd::Complete;
        let turn = request.turn_index();
        for (k, &v) in biases.iter().enumerate() {
            let mut noise = white.sample(rng);
            if share > 0.0 {
                slow = RHO * slow + kick.sample(rng);
                noise += slow;
            }
            let i = this.current_a(v, k > turn) + noise;
            bias_v.push(v);
            current_a.push(i);
            if i.abs() > compliance_a {
                end = SweepEnd::Compliance;
                break;
            }
        }
        Sweep { bias_v, current_a, end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Motif;
    use crate::scalar;
    use rand::SeedableRng;

    fn site(motif: Motif) -> Site {
        let (boundary_nm, junction_nm, asymmetric) = match motif {
            Motif::GrainInterior => (120.0, 200.0, false),
            Motif::GbGroove => (2.0, 120.0, false),
            Motif::GbAsymmetric => (2.0, 120.0, true),
            Motif::TripleJunction => (1.0, 3.0, false),
        };
        Site {
            motif,
            boundary_nm,
            junction_nm,
            asymmetric,
            grain_conductance: 1.0,
            pit_factor: 1.0,
        }
    }

    fn film() -> crate::plan::FilmPlan {
        crate::plan::FilmPlan {
            groove_width_nm: 14.0,
            pit_radius_nm: 26.0,
            ..Default::default()
        }
    }

    fn loop_area(motif: Motif) -> f64 {
        let r = Response::at(&site(motif), &film());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let s = r.sweep(&SweepRequest::default(), 1.0, (0.0, 0.0), &mut rng);
        scalar::hysteresis_area(&s.bias_v, &s.current_a)
    }

    #[test]
    fn junctions_loop_most_and_asymmetric_boundaries_conduct_least() {
        let area: Vec<f64> = Motif::ALL.iter().map(|m| loop_area(*m)).collect();
        let junction = area[3];
        assert!(area.iter().all(|a| *a <= junction), "{area:?}");
        let max = |m| Response::at(&site(m), &film()).current_a(1.5, false);
        assert!(max(Motif::GbAsymmetric) < 0.5 * max(Motif::GrainInterior));
    }

    /// Ion migration: on the reference sweep the loop is what the plan
    /// says; at 1.0 V an interior's loop all but closes while a junction's
    /// stays open; loops widen with the top bias and with slower sweeps.
    #[test]
    fn loops_depend_on_the_bias_range_and_the_sweep_rate() {
        let reference = SweepRequest::default();
        let to = |v_max: f64, dwell_ms: f64| SweepRequest {
            v_max,
            dwell_ms,
            ..reference
        };
        let interior = Response::at(&site(Motif::GrainInterior), &film());
        let junction = Response::at(&site(Motif::TripleJunction), &film());
        assert_eq!(interior.loop_factor(&reference), 1.0);
        assert_eq!(junction.loop_factor(&reference), 1.0);
        assert!(
            interior.loop_factor(&to(1.0, 2.0)) < 0.05,
            "{}",
            interior.loop_factor(&to(1.0, 2.0))
        );
        assert!(
            junction.loop_factor(&to(1.0, 2.0)) > 0.6,
            "{}",
            junction.loop_factor(&to(1.0, 2.0))
        );
        for r in [&interior, &junction] {
            assert!(r.loop_factor(&to(2.0, 2.0)) > 1.3);
            assert!(r.loop_factor(&to(1.5, 8.0)) > 1.3 && r.loop_factor(&to(1.5, 0.5)) < 0.8);
            // Negative sweeps reach their ions too.
            assert_eq!(r.loop_factor(&to(-1.5, 2.0)), 1.0);
        }
        let area = |r: &Response, v_max: f64| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let s = r.sweep(&to(v_max, 2.0), 1.0, (0.0, 0.0), &mut rng);
            scalar::hysteresis_area(&s.bias_v, &s.current_a)
        };
        assert!(area(&junction, 1.0) > 5.0 * area(&interior, 1.0));
        assert!(area(&junction, 2.0) > area(&junction, 1.5));
    }

    #[test]
    fn compliance_cuts_the_sweep_short() {
        let r = Response::at(&site(Motif::TripleJunction), &film());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let s = r.sweep(&SweepRequest::default(), 20e-12, (0.0, 0.0), &mut rng);
        assert_eq!(s.end, SweepEnd::Compliance);
        assert!(s.bias_v.len() < 251 && !s.bias_v.is_empty());
        assert!(s.current_a.last().unwrap().abs() > 20e-12);
    }

    #[test]
    fn current_is_odd_in_bias() {
        let r = Response::at(&site(Motif::GrainInterior), &film());
        assert_eq!(r.current_a(-1.2, false), -r.current_a(1.2, false));
    }

    #[test]
    fn slow_noise_drifts_along_the_sweep_with_the_same_spread() {
        let flat = Response {
            scale_a: 0.0,
            ..Response::at(&site(Motif::GrainInterior), &film())
        };
        let noise = |share: f64| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
            let request = SweepRequest {
                points: 2001,
                ..SweepRequest::default()
            };
            flat.sweep(&request, 1.0, (1e-12, share), &mut rng).current_a
        };
        let stats = |x: &[f64]| {
            let var = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
            let lag1 = x.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / (x.len() - 1) as f64;
            (var.sqrt(), lag1 / var)
        };
        let (white_sd, white_r) = stats(&noise(0.0));
        let (slow_sd, slow_r) = stats(&noise(0.5));
        assert!(white_r.abs() < 0.1, "white noise correlated: {white_r}");
        assert!(slow_r > 0.3, "half slow noise barely correlated: {slow_r}");
        assert!((slow_sd / white_sd - 1.0).abs() < 0.35, "{slow_sd} vs {white_sd}");
    }

    #[test]
    fn a_rectifying_contact_passes_less_reverse_current() {
        let f = crate::plan::FilmPlan {
            physics: crate::plan::PhysicsPlan {
                reverse_ratio: 0.25,
                ..Default::default()
            },
            ..film()
        };
        let r = Response::at(&site(Motif::GrainInterior), &f);
        assert!((r.current_a(-1.2, false) + 0.25 * r.current_a(1.2, false)).abs() < 1e-18);
    }
}
