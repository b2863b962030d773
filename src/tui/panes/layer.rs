//! What the survey map colours: the topography, or one layer of the dual
//! VAE's predicted response at every candidate (`property_map`), each on a
//! scale with its units.

use crate::record::{PropertyGrid, PropertyPoint};

/// The layer the map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapLayer {
    #[default]
    Topography,
    LoopArea,
    MaxCurrent,
    Cluster,
    /// The spread of the predicted loop area over the ensemble's members.
    Spread,
}

impl MapLayer {
    pub const ALL: [MapLayer; 5] = [
        Self::Topography,
        Self::LoopArea,
        Self::MaxCurrent,
        Self::Cluster,
        Self::Spread,
    ];

    pub fn next(self) -> Self {
        let k = Self::ALL.iter().position(|l| *l == self).unwrap_or(0);
        Self::ALL[(k + 1) % Self::ALL.len()]
    }

    /// The layer and its units, for notices.
    pub fn title(self) -> &'static str {
        match self {
            Self::Topography => "topography (nm)",
            Self::LoopArea => "predicted loop area (V·pA, log scale)",
            Self::MaxCurrent => "predicted max current (pA, log scale)",
            Self::Cluster => "predicted cluster",
            Self::Spread => "spread of the predicted loop area over the models (% of its mean)",
        }
    }

    /// The same in a few characters, for the pane's title.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Topography => "height nm",
            Self::LoopArea => "predicted loop V·pA",
            Self::MaxCurrent => "predicted I max pA",
            Self::Cluster => "predicted cluster",
            Self::Spread => "loop spread %",
        }
    }

    /// The short name the scale line starts with.
    pub fn short(self) -> &'static str {
        match self {
            Self::Topography => "height",
            Self::LoopArea => "loop",
            Self::MaxCurrent => "I max",
            Self::Cluster => "cluster",
            Self::Spread => "spread",
        }
    }

    /// The units the scale's ends are written in.
    pub fn units(self) -> &'static str {
        match self {
            Self::Topography => "nm",
            Self::LoopArea => "V·pA",
            Self::MaxCurrent => "pA",
            Self::Cluster => "",
            Self::Spread => "%",
        }
    }

    /// The value one prediction gives this layer, on the axis it is coloured
    /// along (log10 for the quantities that span decades); `None` for the
    /// topography, and where the model gives none.
    pub fn value(self, p: &PropertyPoint) -> Option<f64> {
        let log = |v: f64| (v > 0.0 && v.is_finite()).then(|| v.log10());
        match self {
            Self::Topography => None,
            Self::LoopArea => log(p.hysteresis_area * 1e12),
            Self::MaxCurrent => log(p.max_current_a * 1e12),
            Self::Cluster => Some(p.cluster as f64),
            Self::Spread => {
                let std = p.hysteresis_area_std?;
                (p.hysteresis_area > 0.0).then(|| 100.0 * std / p.hysteresis_area)
            }
        }
    }

    /// A value on the layer's axis as the scientist reads it, with units.
    pub fn read(self, v: f64) -> String {
        match self {
            Self::LoopArea | Self::MaxCurrent => {
                let x = 10f64.powf(v);
                let digits = if x < 10.0 {
                    2
                } else if x < 100.0 {
                    1
                } else {
                    0
                };
                format!("{x:.digits$} {}", self.units())
            }
            Self::Spread => format!("{v:.0} %"),
            Self::Cluster => format!("{v:.0}"),
            Self::Topography => format!("{v:.1} nm"),
        }
    }

    /// The lowest and highest value of the layer over the grid.
    pub fn range(self, grid: &PropertyGrid) -> Option<(f64, f64)> {
        let (lo, hi) = grid
            .points
            .iter()
            .filter_map(|p| self.value(p))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        (lo <= hi).then_some((lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_cycle_and_read_in_their_units() {
        let mut l = MapLayer::Topography;
        let mut seen = vec![l];
        for _ in 0..4 {
            l = l.next();
            seen.push(l);
        }
        assert_eq!(seen, MapLayer::ALL);
        assert_eq!(l.next(), MapLayer::Topography);
        assert_eq!(MapLayer::LoopArea.read(2.0), "100 V·pA");
        assert_eq!(MapLayer::MaxCurrent.read(0.0), "1.00 pA");
        let p = PropertyPoint {
            model_step: 1,
            row: 0,
            col: 0,
            x_nm: 0.0,
            y_nm: 0.0,
            hysteresis_area: 2e-10,
            max_current_a: 0.0,
            onset_v: None,
            hysteresis_area_std: Some(5e-11),
            max_current_a_std: None,
            onset_v_std: None,
            cluster: 3,
            model: "live".into(),
        };
        assert!((MapLayer::LoopArea.value(&p).unwrap() - 200f64.log10()).abs() < 1e-12);
        assert_eq!(MapLayer::MaxCurrent.value(&p), None, "no log of zero");
        assert_eq!(MapLayer::Spread.value(&p), Some(25.0));
        assert_eq!(MapLayer::Cluster.value(&p), Some(3.0));
    }
}
