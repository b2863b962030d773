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
    /// Current scale.
    pub scale_a: f64,
    /// Bias where conduction turns on.
    pub onset_v: f64,
    /// Relative extra current on the down branch at the trap bias.
    pub hysteresis: f64,
    /// Bias at which trapped charge changes the current most.
    pub trap_v: f64,
}

/// Scale of the current of a typical grain interior.
const INTERIOR_SCALE_A: f64 = 25e-12;
/// Softness of the onset.
const ONSET_WIDTH_V: f64 = 0.1;
/// Width of the trap window in bias.
const TRAP_WIDTH_V: f64 = 0.3;

impl Response {
    pub fn at(site: &Site, groove_width_nm: f64, pit_radius_nm: f64) -> Self {
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
        let scale_a = INTERIOR_SCALE_A
            * site.grain_conductance
            * (1.0 + 0.6 * groove)
            * (1.0 - 0.85 * asym)
            * (1.0 + 0.8 * junction);
        let onset_v = 0.55 - 0.1 * groove + 0.3 * asym - 0.15 * junction;
        let hysteresis = 0.08 + 0.35 * groove + 0.12 * asym + 1.3 * junction * site.pit_factor;
        // Deeper pits trap at lower bias: junctions differ in *where* the loop opens.
        let junction_trap_v = 1.5 - 0.7 * site.pit_factor;
        let trap_v = 1.0 + (junction_trap_v - 1.0) * junction;
        Self {
            scale_a,
            onset_v,
            hysteresis,
            trap_v,
        }
    }

    /// Noise-free current at `bias_v`, on the up (`false`) or down (`true`) branch.
    pub fn current_a(&self, bias_v: f64, down: bool) -> f64 {
        let v = bias_v.abs();
        let x = (v - self.onset_v) / ONSET_WIDTH_V;
        let softplus = if x > 30.0 { x } else { x.exp().ln_1p() };
        let mut i = self.scale_a * softplus + 0.02 * self.scale_a * v / ONSET_WIDTH_V;
        if down {
            let window = (-((v - self.trap_v) / TRAP_WIDTH_V).powi(2)).exp();
            i *= 1.0 + self.hysteresis * window;
        }
        i.copysign(bias_v)
    }

    /// Records a sweep: samples the current along the triangle, adds amplifier
    /// noise, and stops at the compliance limit (the partial curve is kept).
    pub fn sweep(&self, request: &SweepRequest, compliance_a: f64, noise_a: f64, rng: &mut impl Rng) -> Sweep {
        let biases = request.biases_v();
        let normal = Normal::new(0.0, noise_a.max(0.0)).expect("finite noise");
        let mut bias_v = Vec::with_capacity(biases.len());
        let mut current_a = Vec::with_capacity(biases.len());
        let mut end = SweepEnd::Complete;
        let turn = request.turn_index();
        for (k, &v) in biases.iter().enumerate() {
            let i = self.current_a(v, k > turn) + normal.sample(rng);
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

    fn loop_area(motif: Motif) -> f64 {
        let r = Response::at(&site(motif), 14.0, 26.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let s = r.sweep(&SweepRequest::default(), 1.0, 0.0, &mut rng);
        scalar::hysteresis_area(&s.bias_v, &s.current_a)
    }

    #[test]
    fn junctions_loop_most_and_asymmetric_boundaries_conduct_least() {
        let area: Vec<f64> = Motif::ALL.iter().map(|m| loop_area(*m)).collect();
        let junction = area[3];
        assert!(area.iter().all(|a| *a <= junction), "{area:?}");
        let max = |m| Response::at(&site(m), 14.0, 26.0).current_a(1.5, false);
        assert!(max(Motif::GbAsymmetric) < 0.5 * max(Motif::GrainInterior));
    }

    #[test]
    fn compliance_cuts_the_sweep_short() {
        let r = Response::at(&site(Motif::TripleJunction), 14.0, 26.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let s = r.sweep(&SweepRequest::default(), 20e-12, 0.0, &mut rng);
        assert_eq!(s.end, SweepEnd::Compliance);
        assert!(s.bias_v.len() < 251 && !s.bias_v.is_empty());
        assert!(s.current_a.last().unwrap().abs() > 20e-12);
    }

    #[test]
    fn current_is_odd_in_bias() {
        let r = Response::at(&site(Motif::GrainInterior), 14.0, 26.0);
        assert_eq!(r.current_a(-1.2, false), -r.current_a(1.2, false));
    }
}
