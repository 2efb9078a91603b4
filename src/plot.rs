//! PNG line charts (histogram curves, elbow curves) drawn with `plotters`
//! into an in-memory RGB buffer and saved with `image`. The font is the
//! DejaVu Sans embedded at build time, so plots need no system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::error::{Error, Result};

/// One curve: a legend label, a colour and its points.
pub struct Series {
    pub label: String,
    pub color: (u8, u8, u8),
    pub points: Vec<(f64, f64)>,
}

/// A chart with axes, captions and curves; `highlight` marks one point.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series>,
    pub highlight: Option<(f64, f64, String)>,
}

const W: u32 = 900;
const H: u32 = 560;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Draw `chart` to the PNG file `out`.
pub fn draw(chart: &Chart, out: &Path) -> Result<()> {
    register_font();
    let mut buf = vec![255u8; (W * H * 3) as usize];
    render(chart, &mut buf, out)?;
    let img = image::RgbImage::from_raw(W, H, buf).expect("buffer sized for the chart");
    img.save_with_format(out, image::ImageFormat::Png)
        .map_err(|e| Error::Plot {
            path: out.into(),
            reason: e.to_string(),
        })
}

fn bounds(chart: &Chart) -> (f64, f64, f64, f64) {
    let pts = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    (
        x0,
        x1.max(x0 + 1e-9),
        (y0 - pad).min(0.0_f64.max(y0 - pad)),
        y1 + pad,
    )
}

fn render(chart: &Chart, buf: &mut [u8], out: &Path) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| Error::Plot {
        path: out.into(),
        reason: e.to_string(),
    };
    let root = BitMapBackend::with_buffer(buf, (W, H)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (x0, x1, y0, y1) = bounds(chart);
    let mut ctx = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| fail(&e))?;
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| fail(&e))?;
    for s in &chart.series {
        let color = RGBColor(s.color.0, s.color.1, s.color.2);
        ctx.draw_series(LineSeries::new(
            s.points.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(|e| fail(&e))?
        .label(s.label.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if let Some((hx, hy, label)) = &chart.highlight {
        let red = RGBColor(200, 30, 30);
        ctx.draw_series(std::iter::once(Circle::new((*hx, *hy), 7, red.filled())))
            .map_err(|e| fail(&e))?
            .label(label.clone())
            .legend(move |(x, y)| Circle::new((x + 9, y), 5, red.filled()));
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
