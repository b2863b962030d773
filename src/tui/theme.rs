//! Colours from TOML files in `themes/`; `NO_COLOR` turns every colour off and
//! the heat map falls back to shading characters.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    foreground: String,
    background: String,
    accent: String,
    muted: String,
    ok: String,
    warning: String,
    error: String,
    /// I–V up and down branches.
    up: String,
    down: String,
    /// Heat-map stops for 24-bit terminals, low to high.
    heat: Vec<String>,
    /// Heat-map stops for 16-colour terminals.
    heat16: Vec<String>,
    /// One colour per cluster.
    clusters: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub fg: Color,
    pub bg: Color,
    pub accent: Color,
    pub muted: Color,
    pub ok: Color,
    pub warning: Color,
    pub error: Color,
    pub up: Color,
    pub down: Color,
    pub heat: Vec<Color>,
    pub clusters: Vec<Color>,
    /// No colour at all (NO_COLOR): the heat map uses shading characters.
    pub monochrome: bool,
    pub depth: ColourDepth,
}

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourDepth {
    /// 24-bit (`COLORTERM=truecolor` or `24bit`).
    True,
    /// The xterm 256-colour palette (`TERM=…-256color`): the heat map's
    /// 24-bit stops, each colour taken to the nearest palette entry.
    Palette256,
    /// The 16 named colours: the theme's `heat16` stops.
    Sixteen,
}

impl ColourDepth {
    /// What the terminal says it shows.
    pub fn of_terminal() -> Self {
        let says = |name: &str, any: &[&str]| std::env::var(name).is_ok_and(|v| any.iter().any(|a| v.contains(a)));
        if says("COLORTERM", &["truecolor", "24bit"]) {
            Self::True
        } else if says("TERM", &["256color"]) {
            Self::Palette256
        } else {
            Self::Sixteen
        }
    }
}

/// The xterm 256-colour palette entry nearest to a colour: the 6×6×6 cube
/// (16–231) or the grey ramp (232–255).
pub fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    const LEVELS: [i32; 6] = [0, 95, 135, 175, 215, 255];
    let level = |c: u8| (0..6).min_by_key(|&k| (LEVELS[k] - c as i32).abs()).unwrap_or(0);
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let distance = |(x, y, z): (i32, i32, i32)| (x - r as i32).pow(2) + (y - g as i32).pow(2) + (z - b as i32).pow(2);
    let cube = (LEVELS[ri], LEVELS[gi], LEVELS[bi]);
    let grey_k = ((r as i32 + g as i32 + b as i32) / 3 - 8).clamp(0, 230) / 10;
    let grey = 8 + 10 * grey_k.min(23);
    if distance((grey, grey, grey)) < distance(cube) {
        232 + grey_k.min(23) as u8
    } else {
        (16 + 36 * ri + 6 * gi + bi) as u8
    }
}

/// The themes shipped in `themes/`, built in so the binary works from anywhere.
const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
];

/// Why a theme cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("{key} = \"{text}\" is not a colour (a name, #rrggbb or 0-255)")]
    NotAColour { key: &'static str, text: String },
    #[error("heat needs at least two colours")]
    TooFewHeat,
    #[error("no built-in theme `{0}`")]
    NoBuiltIn(String),
    #[error("theme `{name}`: not one of dark, light, high-contrast, and {path}: {source}")]
    Unreadable {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("theme `{name}`: {message}")]
    Toml { name: String, message: String },
}

fn colour(text: &str, key: &'static str) -> Result<Color, ThemeError> {
    Color::from_str(text).map_err(|_| ThemeError::NotAColour {
        key,
        text: text.to_string(),
    })
}

impl Theme {
    fn from_file(f: ThemeFile, depth: ColourDepth) -> Result<Self, ThemeError> {
        let heat_src = if depth == ColourDepth::Sixteen {
            &f.heat16
        } else {
            &f.heat
        };
        if heat_src.len() < 2 {
            return Err(ThemeError::TooFewHeat);
        }
        Ok(Self {
            fg: colour(&f.foreground, "foreground")?,
            bg: colour(&f.background, "background")?,
            accent: colour(&f.accent, "accent")?,
            muted: colour(&f.muted, "muted")?,
            ok: colour(&f.ok, "ok")?,
            warning: colour(&f.warning, "warning")?,
            error: colour(&f.error, "error")?,
            up: colour(&f.up, "up")?,
            down: colour(&f.down, "down")?,
            heat: heat_src.iter().map(|c| colour(c, "heat")).collect::<Result<_, _>>()?,
            clusters: f
                .clusters
                .iter()
                .map(|c| colour(c, "clusters"))
                .collect::<Result<_, _>>()?,
            name: f.name,
            monochrome: false,
            depth,
        })
    }

    /// A built-in theme, whatever the environment says (for tests and benches).
    pub fn builtin(name: &str, truecolor: bool) -> Result<Self, ThemeError> {
        Self::builtin_at(
            name,
            if truecolor {
                ColourDepth::True
            } else {
                ColourDepth::Sixteen
            },
        )
    }

    /// A built-in theme at a colour depth.
    pub fn builtin_at(name: &str, depth: ColourDepth) -> Result<Self, ThemeError> {
        let (_, text) = BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError::NoBuiltIn(name.to_string()))?;
        let file: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Toml {
            name: name.to_string(),
            message: e.message().to_string(),
        })?;
        Self::from_file(file, depth)
    }

    /// A theme by name (`dark`, `light`, `high-contrast`) or from a TOML file.
    pub fn load(name_or_path: &str) -> Result<Self, ThemeError> {
        let depth = ColourDepth::of_terminal();
        let text = match BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            Some((_, t)) => t.to_string(),
            None => {
                let path = PathBuf::from(name_or_path);
                let path = if path.exists() {
                    path
                } else {
                    Path::new("themes").join(format!("{name_or_path}.toml"))
                };
                std::fs::read_to_string(&path).map_err(|source| ThemeError::Unreadable {
                    name: name_or_path.to_string(),
                    path: path.clone(),
                    source,
                })?
            }
        };
        let file: ThemeFile = toml::from_str(&text).map_err(|e| ThemeError::Toml {
            name: name_or_path.to_string(),
            message: e.message().to_string(),
        })?;
        let mut theme = Self::from_file(file, depth)?;
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            theme = theme.without_colour();
        }
        Ok(theme)
    }

    /// Every colour off, as NO_COLOR asks.
    pub fn without_colour(mut self) -> Self {
        for c in [
            &mut self.fg,
            &mut self.bg,
            &mut self.accent,
            &mut self.muted,
            &mut self.ok,
            &mut self.warning,
            &mut self.error,
            &mut self.up,
            &mut self.down,
        ] {
            *c = Color::Reset;
        }
        self.heat = vec![Color::Reset, Color::Reset];
        self.clusters = vec![Color::Reset];
        self.monochrome = true;
        self
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }

    pub fn title(&self, focused: bool) -> Style {
        let s = Style::default().fg(if focused { self.accent } else { self.fg });
        if focused { s.add_modifier(Modifier::BOLD) } else { s }
    }

    pub fn border(&self, focused: bool) -> Style {
        Style::default().fg(if focused { self.accent } else { self.muted })
    }

    pub fn cluster(&self, k: u32) -> Color {
        self.clusters[k as usize % self.clusters.len().max(1)]
    }

    /// The heat-map colour of a value in [0, 1].
    pub fn heat_at(&self, v: f64) -> Color {
        let n = self.heat.len();
        let x = v.clamp(0.0, 1.0) * (n - 1) as f64;
        let (i, t) = (x.floor() as usize, x.fract());
        let (a, b) = (self.heat[i.min(n - 1)], self.heat[(i + 1).min(n - 1)]);
        match (a, b) {
            (Color::Rgb(r1, g1, b1), Color::Rgb(r2, g2, b2)) => {
                let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * t).round() as u8;
                let (r, g, b) = (mix(r1, r2), mix(g1, g2), mix(b1, b2));
                if self.depth == ColourDepth::Palette256 {
                    Color::Indexed(nearest_256(r, g, b))
                } else {
                    Color::Rgb(r, g, b)
                }
            }
            _ => {
                if t < 0.5 {
                    a
                } else {
                    b
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_loads_in_both_colour_depths() {
        for (name, text) in BUILT_IN {
            for depth in [ColourDepth::True, ColourDepth::Palette256, ColourDepth::Sixteen] {
                let f: ThemeFile = toml::from_str(text).unwrap();
                let t = Theme::from_file(f, depth).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(t.name, name);
                assert!(t.clusters.len() >= 6);
            }
        }
        assert!(Theme::load("no-such-theme").is_err());
    }

    #[test]
    fn heat_interpolates_between_stops() {
        let f: ThemeFile = toml::from_str(BUILT_IN[0].1).unwrap();
        let t = Theme::from_file(f, ColourDepth::True).unwrap();
        assert_eq!(t.heat_at(0.0), t.heat[0]);
        assert_eq!(t.heat_at(1.0), *t.heat.last().unwrap());
        let m = t.without_colour();
        assert!(m.monochrome && m.heat_at(0.5) == Color::Reset);
    }

    #[test]
    fn the_256_colour_heat_map_takes_the_nearest_palette_entries() {
        // Palette entries map to themselves: cube corners, a cube colour, a grey.
        assert_eq!(nearest_256(0, 0, 0), 16);
        assert_eq!(nearest_256(255, 255, 255), 231);
        assert_eq!(nearest_256(95, 135, 175), 16 + 36 + 6 * 2 + 3);
        assert_eq!(nearest_256(128, 128, 128), 232 + 12);
        let t = Theme::builtin_at("dark", ColourDepth::Palette256).unwrap();
        let shades: std::collections::BTreeSet<u8> = (0..=100)
            .map(|k| match t.heat_at(k as f64 / 100.0) {
                Color::Indexed(i) => i,
                other => panic!("{other:?} is not a palette colour"),
            })
            .collect();
        let sixteen = Theme::builtin("dark", false).unwrap();
        let named: std::collections::BTreeSet<String> = (0..=100)
            .map(|k| format!("{:?}", sixteen.heat_at(k as f64 / 100.0)))
            .collect();
        // The dark theme: 15 palette shades against 6 named colours.
        assert!(
            shades.len() >= 2 * named.len(),
            "{} shades against {}",
            shades.len(),
            named.len()
        );
    }
}
