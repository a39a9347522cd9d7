//! The benches' charts: grouped horizontal bars on a log scale, as SVG text.

use std::fmt::Write as _;

/// One chart: a bar per series in each group, the same series in every group.
pub struct Bars<'a> {
    /// The line above the chart.
    pub title: &'a str,
    /// Each series' name (in the legend) and fill colour, in the order of a group's values.
    pub series: &'a [(&'a str, &'a str)],
    /// Each group's label and its values, one per series (positive).
    pub groups: &'a [(&'a str, Vec<f64>)],
    /// The text written at the end of a bar, from its value.
    pub label: fn(f64) -> String,
}

/// Legend entries per line: one every 190 px across the chart.
const LEGEND_PER_LINE: usize = 3;

impl Bars<'_> {
    /// The chart as an SVG document. The axis runs over whole powers of ten, from the one
    /// below the smallest value to the one at or above the largest.
    pub fn svg(&self) -> String {
        let (left, top, bar, gap, width) = (90.0, 50.0, 16.0, 18.0, 560.0);
        let values = || self.groups.iter().flat_map(|(_, values)| values.iter());
        let smallest = values().copied().fold(f64::INFINITY, f64::min);
        let largest = values().copied().fold(0.0, f64::max);
        let min_exp = smallest.log10().ceil() - 1.0;
        let max_exp = largest.log10().ceil().max(min_exp + 1.0);
        let x = |value: f64| {
            left + width
                * ((value.max(1.0).log10() - min_exp) / (max_exp - min_exp)).clamp(0.0, 1.0)
        };
        let series = self.series.len() as f64;
        let group_height = bar * series + gap;
        let legend_lines = self.series.len().div_ceil(LEGEND_PER_LINE);
        let legend_height = 20.0 * (legend_lines - 1) as f64;
        let height = top + group_height * self.groups.len() as f64 + 60.0 + legend_height;
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="20" font-size="14" font-weight="bold">{title}</text>
"#,
            w = left + width + 150.0,
            title = self.title,
        );
        let bottom = height - 45.0 - legend_height;
        for exp in min_exp as i32..=max_exp as i32 {
            let at = x(10f64.powi(exp));
            let _ = writeln!(
                out,
                r##"<line x1="{at}" y1="{top}" x2="{at}" y2="{bottom}" stroke="#ddd"/><text x="{at}" y="{}" text-anchor="middle">10^{exp}</text>"##,
                bottom + 15.0
            );
        }
        for (row, (name, values)) in self.groups.iter().enumerate() {
            let y0 = top + group_height * row as f64;
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" text-anchor="end" font-weight="bold">{name}</text>"#,
                left - 8.0,
                y0 + bar * series / 2.0 + 4.0,
            );
            for (i, ((_, colour), &value)) in self.series.iter().zip(values).enumerate() {
                let y = y0 + bar * i as f64;
                let end = x(value);
                let _ = writeln!(
                    out,
                    r#"<rect x="{left}" y="{y}" width="{}" height="{}" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
                    end - left,
                    bar - 2.0,
                    end + 4.0,
                    y + bar - 5.0,
                    (self.label)(value)
                );
            }
        }
        for (i, (name, colour)) in self.series.iter().enumerate() {
            let lx = left + 190.0 * (i % LEGEND_PER_LINE) as f64;
            let legend_y = height - 18.0 - legend_height + 20.0 * (i / LEGEND_PER_LINE) as f64;
            let _ = writeln!(
                out,
                r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{legend_y}">{name}</text>"#,
                legend_y - 10.0,
                lx + 16.0
            );
        }
        out.push_str("</svg>\n");
        out
    }
}
