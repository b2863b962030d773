//! The survey topography as a heat map of half-block cells (two pixels a
//! cell), with the measured points, the tip, the top of the queue and the
//! cursor on top. Without colour, heights are shaded with block characters.

use super::layer::MapLayer;
use crate::engine::QueueKind;
use crate::plan::Exclusion;
use crate::record::Source;
use crate::tui::app::App;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;

pub struct HeatMap<'a> {
    pub app: &'a App,
}

pub const SHADES: [&str; 5] = [" ", "░", "▒", "▓", "█"];

impl Widget for HeatMap<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        let theme = &app.theme;
        let Some(survey) = app.snap.survey.as_ref() else {
            buf.set_string(
                area.x,
                area.y,
                "waiting for the survey image…",
                Style::default().fg(theme.muted),
            );
            return;
        };
        if area.width == 0 || area.height == 0 {
            return;
        }
        let h = &survey.heights_nm;
        let (rows, cols) = (h.nrows(), h.ncols());
        let (w, ph) = (area.width as usize, area.height as usize * 2);
        let layer = app.shown_layer();
        let grid = app.property_grid();
        let (lo, hi) = match grid.and_then(|g| layer.range(g)) {
            Some(range) => range,
            None => survey.height_range_nm(),
        };
        let span = (hi - lo).max(1e-12);
        // Each half cell: its place on the layer's scale (NaN where the model
        // says nothing), and its colour.
        let value = |py: usize, x: usize| -> (f64, Color) {
            let r = (py * rows / ph).min(rows - 1);
            let c = (x * cols / w).min(cols - 1);
            let v = match (layer, grid) {
                (MapLayer::Topography, _) | (_, None) => Some(h[[r, c]]),
                (_, Some(g)) => g.at(r as u32, c as u32).and_then(|p| layer.value(p)),
            };
            match v {
                None => (f64::NAN, Color::Black),
                Some(v) if layer == MapLayer::Cluster => ((v - lo) / span, theme.cluster(v as u32)),
                Some(v) => ((v - lo) / span, theme.heat_at((v - lo) / span)),
            }
        };
        for y in 0..area.height as usize {
            for x in 0..w {
                let ((top, top_c), (bottom, bottom_c)) = (value(2 * y, x), value(2 * y + 1, x));
                let cell = &mut buf[(area.x + x as u16, area.y + y as u16)];
                if theme.monochrome {
                    let v = 0.5 * (top + bottom);
                    let shade = if v.is_nan() { 0 } else { ((v * 4.999) as usize).min(4) };
                    cell.set_symbol(SHADES[shade]);
                } else {
                    cell.set_symbol("▀").set_fg(top_c).set_bg(bottom_c);
                }
            }
        }
        // Excluded regions outlined, the one being drawn too: the map under
        // them stays readable.
        let frame_nm = (survey.width_nm, survey.height_nm);
        for region in &app.snap.regions {
            outline(buf, area, frame_nm, region, Style::default().fg(theme.error));
        }
        if let Some(region) = app.drawn_region() {
            let style = Style::default().fg(theme.warning).add_modifier(Modifier::BOLD);
            outline(buf, area, frame_nm, &region, style);
        }
        let to_cell = |row: u32, col: u32| -> (u16, u16) {
            let x = (col as usize * w / cols).min(w - 1) as u16;
            let y = ((row as usize * ph / rows) / 2).min(area.height as usize - 1) as u16;
            (area.x + x, area.y + y)
        };
        let mut put = |row: u32, col: u32, symbol: &str, style: Style| {
            let (x, y) = to_cell(row, col);
            let cell = &mut buf[(x, y)];
            cell.set_symbol(symbol);
            if !theme.monochrome {
                cell.set_style(style);
            }
        };
        let clusters = app.snap.clusters.as_ref();
        for p in app.snap.points.iter() {
            let learned = clusters.and_then(|c| c.steps.binary_search(&p.step).ok().and_then(|i| c.points.get(i)));
            let fg = match learned {
                Some((_, _, cluster)) => theme.cluster(*cluster),
                None => match p.source {
                    Source::Seed => Color::White,
                    Source::Manual => theme.warning,
                    Source::Policy => theme.accent,
                    Source::Random | Source::Grid => theme.fg,
                },
            };
            let symbol = if app.snap.rejected.contains(&p.step) {
                "✕"
            } else {
                "●"
            };
            put(p.row, p.col, symbol, Style::default().fg(fg).bg(Color::Black));
        }
        // The curve the I–V pane shows, when it is not simply the newest.
        if let Some(m) = app.curve_shown.and_then(|k| app.snap.curves.get(k)) {
            put(
                m.row,
                m.col,
                "◆",
                Style::default()
                    .fg(Color::Black)
                    .bg(theme.accent)
                    .add_modifier(Modifier::BOLD),
            );
        }
        for (k, q) in app.snap.queue.iter().take(3).enumerate() {
            let symbol = match q.kind {
                QueueKind::Manual => "M",
                QueueKind::Pinned => "P",
                QueueKind::Policy => ["1", "2", "3"][k],
            };
            put(
                q.row,
                q.col,
                symbol,
                Style::default()
                    .fg(Color::Black)
                    .bg(theme.ok)
                    .add_modifier(Modifier::BOLD),
            );
        }
        if let Some((r, c)) = app.snap.tip {
            put(
                r,
                c,
                "◉",
                Style::default()
                    .fg(theme.error)
                    .bg(Color::Black)
                    .add_modifier(Modifier::BOLD),
            );
        }
        if let Some((r, c)) = app.cursor {
            put(
                r,
                c,
                "✚",
                Style::default()
                    .fg(Color::Black)
                    .bg(theme.warning)
                    .add_modifier(Modifier::BOLD),
            );
        }
    }
}

/// Draws a region's edges in the cells its rectangle covers.
fn outline(buf: &mut Buffer, area: Rect, (width_nm, height_nm): (f64, f64), region: &Exclusion, style: Style) {
    let (w, h) = (area.width as f64, area.height as f64);
    let cell = |v: f64, size: f64, cells: f64| ((v / size * cells).floor().max(0.0) as u16).min(cells as u16 - 1);
    let (x0, x1) = (
        cell(region.x_nm[0], width_nm, w),
        cell((region.x_nm[1] - 1e-9).max(region.x_nm[0]), width_nm, w),
    );
    let (y0, y1) = (
        cell(region.y_nm[0], height_nm, h),
        cell((region.y_nm[1] - 1e-9).max(region.y_nm[0]), height_nm, h),
    );
    for x in x0..=x1 {
        for y in y0..=y1 {
            let symbol = match (x == x0, x == x1, y == y0, y == y1) {
                (true, _, true, _) => "┌",
                (_, true, true, _) => "┐",
                (true, _, _, true) => "└",
                (_, true, _, true) => "┘",
                (_, _, true, _) | (_, _, _, true) => "─",
                (true, _, _, _) | (_, true, _, _) => "│",
                _ => continue,
            };
            let c = &mut buf[(area.x + x, area.y + y)];
            c.set_symbol(symbol).set_style(style.bg(Color::Black));
        }
    }
}
