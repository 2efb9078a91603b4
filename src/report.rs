//! The duplicate review page: one self-contained HTML file (thumbnails
//! inlined as base64 JPEG data URIs) showing each group with its suggested
//! keeper and the reason each image is in the group, so a person can review
//! the groups in a browser. It only reads the images.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use crate::decode;
use crate::decode::DecodeConfig;
use crate::error::{Error, Result};
use crate::jobs::dupes::DupesReport;

const THUMB: u32 = 160;

/// Write the review page for `report` to `out`.
pub fn write_html(report: &DupesReport, out: &Path) -> Result<()> {
    let mut html = String::from(HEAD);
    let d = &report.decisions;
    let _ = writeln!(html, "<h1>imgdex: {} duplicate groups</h1><p class=meta>candidates: {}. {} bytes to reclaim. Stored decisions changed {} groups ({} pairs kept apart as not duplicates, {} chosen keepers, {} reference keepers). Nothing has been deleted or moved.</p>", report.details.len(), esc(&report.method), report.reclaim_bytes, d.groups_changed, d.pairs_kept_apart, d.keepers_chosen, d.reference_keepers);
    for (i, g) in report.details.iter().enumerate() {
        let _ = writeln!(
            html,
            "<section><h2>Group {} &middot; {} images &middot; {} KB to reclaim{}</h2><div class=row>",
            i + 1,
            g.members.len(),
            g.reclaim_bytes / 1024,
            if g.reviewed { " &middot; reviewed" } else { "" }
        );
        for m in &g.members {
            let keep = if m.file == g.keeper_file {
                " keeper"
            } else {
                ""
            };
            let _ = writeln!(
                html,
                "<figure class='{keep}'>{}<figcaption><b>{}</b><br>{}&times;{} &middot; {} KB{}<br><i>{}{}</i></figcaption></figure>",
                thumbnail(&m.file),
                esc(&m.path),
                m.width,
                m.height,
                m.bytes / 1024,
                m.taken
                    .as_deref()
                    .map(|t| format!(" &middot; taken {}", esc(&t.replace('T', " "))))
                    .unwrap_or_default(),
                esc(&m.reason),
                if m.reference {
                    " &middot; reference folder: never acted on"
                } else if m.kept {
                    " &middot; kept (your decision): never acted on"
                } else {
                    ""
                }
            );
        }
        html.push_str("</div></section>\n");
    }
    write_series(&mut html, report);
    html.push_str("</body></html>\n");
    std::fs::write(out, html).map_err(|e| Error::io(out, e))
}

/// The series: similar shots of one scene, which are not copies and which
/// `--apply` leaves alone; the suggested best shot is marked.
fn write_series(html: &mut String, report: &DupesReport) {
    if report.series.is_empty() {
        return;
    }
    let _ = writeln!(
        html,
        "<h1>{} series (similar shots, not copies: never applied)</h1>",
        report.series.len()
    );
    for (i, s) in report.series.iter().enumerate() {
        let _ = writeln!(
            html,
            "<section><h2>Series {} &middot; {} shots</h2><p class=meta>{}</p><div class=row>",
            i + 1,
            s.shots.len(),
            esc(&s.reason)
        );
        for p in &s.shots {
            let best = if *p == s.best { " keeper" } else { "" };
            let _ = writeln!(
                html,
                "<figure class='{best}'>{}<figcaption><b>{}</b></figcaption></figure>",
                thumbnail(Path::new(p)),
                esc(p)
            );
        }
        html.push_str("</div></section>\n");
    }
}

fn thumbnail(p: &Path) -> String {
    let cfg = DecodeConfig {
        work_short_side: THUMB,
        work_long_side_max: THUMB * 2,
        ..DecodeConfig::default()
    };
    let img = crate::features::guarded(p, "decoder", || {
        decode::read_file(p, &cfg).and_then(|b| decode::decode(p, &b, &cfg))
    });
    match img {
        Ok(d) => {
            let mut jpeg = Vec::new();
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80);
            if d.image.write_with_encoder(enc).is_err() {
                return "<div class=missing>thumbnail failed</div>".into();
            }
            let b64 = base64::engine::general_purpose::STANDARD.encode(&jpeg);
            format!("<img src='data:image/jpeg;base64,{b64}' alt=''>")
        }
        Err(e) => format!("<div class=missing>{}</div>", esc(&e.to_string())),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
        .replace('"', "&quot;")
}

const HEAD: &str = "<!doctype html><html><head><meta charset=utf-8><title>imgdex duplicates</title><style>
body{font-family:sans-serif;margin:1.5em;background:#fafafa}section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.5em 1em}
.row{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;width:200px;font-size:12px;word-break:break-all}
figure img{max-width:200px;max-height:200px;display:block;border:3px solid transparent}figure.keeper img{border-color:#2a2}
.missing{width:160px;height:120px;background:#eee;color:#a00;font-size:11px}.meta{color:#666}</style></head><body>
";
