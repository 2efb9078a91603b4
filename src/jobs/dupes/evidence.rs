//! What one group member is, compared with a keeper, in words a reviewer
//! reads ("same picture, re-encoded as JPEG, resized smaller", "mirrored",
//! "cropped") and the numbers behind them. Computed from the stored
//! records and signatures only (no file is read), so the report's
//! evidence and the evidence the server recomputes when the user picks
//! another keeper are the same function of the same data.
//!
//! The words come from: equal digests (identical file); the verification
//! score against the keeper (`verify`: same picture from [`MIN_DETAIL`],
//! else a similar picture); the 64×64 luma thumbnails correlated as they
//! are and with the member mirrored (mirrored when only the mirrored one
//! matches); the proportions (cropped when they differ by more than 3%);
//! the pixel counts (resized), format and file size (re-encoded), the
//! mean luma (brighter/darker by more than 8 levels), the hue turn or a
//! graphic's recoloured palette (colours changed) and a trimmed frame
//! (border).

use serde::Serialize;

use super::verify::{self, MIN_DETAIL};
use crate::features::hash::hamming;
use crate::features::signature::Signature;
use crate::store::ImageRecord;

/// One member against a keeper.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    /// In words, most telling first.
    pub words: String,
    /// Same bytes (equal digests).
    pub identical: bool,
    /// pHash and dHash Hamming distances (of 64 bits), when both are hashed.
    pub phash: Option<u32>,
    pub dhash: Option<u32>,
    /// Detail correlation after alignment (`verify`; the same picture from
    /// `same_from`); `None`: not judged (no signatures, too little detail).
    pub detail: Option<f32>,
    /// The verification threshold ([`MIN_DETAIL`]), for readers of `detail`.
    pub same_from: f32,
    /// Mean hue turn in degrees, when both are colourful, and the limit
    /// beyond which the two are colour variants (it depends on how the
    /// turn could be measured: `verify`'s colour check).
    pub hue_turn: Option<f32>,
    pub hue_turn_limit: Option<f32>,
    /// Two graphics' palettes: `true` when recoloured apart from a tone
    /// edit (`verify`'s palette check); `None` when not judged.
    pub recoloured: Option<bool>,
    /// Luma thumbnail correlation as stored, and with the member mirrored.
    pub correlation: Option<f32>,
    pub mirrored_correlation: Option<f32>,
    /// Mean luma of the member minus the keeper's (0..255 levels).
    pub brightness: Option<f32>,
}

/// A record and its signature, if it has one.
pub type Side<'a> = (&'a ImageRecord, Option<&'a Signature>);

/// `member` against `keeper`; `known` is the pair's verdict when `dupes`
/// has already verified it (the verification is not run twice).
pub fn compare(keeper: Side, member: Side, known: Option<verify::Verdict>) -> Evidence {
    let (kr, mr) = (keeper.0, member.0);
    let (phash, dhash) = match (&kr.hashes, &mr.hashes) {
        (Some(x), Some(y)) => (
            Some(hamming(x.value.phash, y.value.phash)),
            Some(hamming(x.value.dhash, y.value.dhash)),
        ),
        _ => (None, None),
    };
    let mut ev = Evidence {
        words: String::new(),
        identical: kr.digest == mr.digest,
        phash,
        dhash,
        detail: None,
        same_from: MIN_DETAIL,
        hue_turn: None,
        hue_turn_limit: None,
        recoloured: None,
        correlation: None,
        mirrored_correlation: None,
        brightness: None,
    };
    if let (Some(ks), Some(ms)) = (keeper.1, member.1) {
        if !ev.identical {
            let v = known.or_else(|| verify::verify(ks, ms));
            ev.detail = v.and_then(|v| v.detail);
            ev.hue_turn = v.and_then(|v| v.chroma());
            ev.hue_turn_limit = v.and_then(|v| v.hue.map(|h| h.limit));
            ev.recoloured = v.and_then(|v| v.recoloured);
        }
        ev.correlation = correlation(&ks.luma, &ms.luma, false);
        ev.mirrored_correlation = correlation(&ks.luma, &ms.luma, true);
        ev.brightness = Some(mean(&ms.luma) - mean(&ks.luma));
    }
    ev.words = words(&ev, keeper, member);
    ev
}

fn words(ev: &Evidence, keeper: Side, member: Side) -> String {
    if ev.identical {
        return "identical file (same bytes)".into();
    }
    let (kr, mr) = (keeper.0, member.0);
    let head = match (ev.detail, keeper.1.is_some() && member.1.is_some()) {
        (Some(d), _) if d >= MIN_DETAIL => "same picture",
        (Some(_), _) => "similar picture, the detail differs (another shot?)",
        (None, true) => "looks alike (too little detail to verify)",
        (None, false) => "looks alike (hashes only)",
    };
    let mut parts = vec![head.to_string()];
    if let (Some(c), Some(m)) = (ev.correlation, ev.mirrored_correlation) {
        if m > 0.6 && m > c + 0.15 {
            parts.push("mirrored".into());
        }
    }
    let aspect = |r: &ImageRecord| r.width as f32 / r.height.max(1) as f32;
    if (aspect(mr) / aspect(kr) - 1.0).abs() > 0.03 {
        parts.push("cropped".into());
    }
    if member.1.is_some_and(|s| s.edits.framed) && !keeper.1.is_some_and(|s| s.edits.framed) {
        parts.push("with a border".into());
    }
    parts.extend(encoding(kr, mr));
    if let Some(b) = ev.brightness.filter(|b| b.abs() > 8.0) {
        parts.push(if b > 0.0 { "brighter" } else { "darker" }.into());
    }
    if ev
        .hue_turn
        .zip(ev.hue_turn_limit)
        .is_some_and(|(h, limit)| h > limit)
        || ev.recoloured == Some(true)
    {
        parts.push("colours changed".into());
    }
    // Same format and size, different bytes, and no edit seen: re-encoded.
    let same_form = mr.format.eq_ignore_ascii_case(&kr.format)
        && (mr.width, mr.height) == (kr.width, kr.height);
    if same_form && parts.len() == 1 {
        parts.push("re-encoded".into());
    }
    parts.extend(file_size(kr, mr));
    parts.join(", ")
}

/// Resizing and format, in words.
fn encoding(kr: &ImageRecord, mr: &ImageRecord) -> Vec<String> {
    let mut out = Vec::new();
    let (kp, mp) = (
        kr.width as u64 * kr.height as u64,
        mr.width as u64 * mr.height as u64,
    );
    if mp < kp {
        out.push("resized smaller".to_string());
    } else if mp > kp {
        out.push("enlarged".to_string());
    }
    if !mr.format.eq_ignore_ascii_case(&kr.format) {
        out.push(format!("re-encoded as {}", mr.format.to_uppercase()));
    }
    out
}

fn file_size(kr: &ImageRecord, mr: &ImageRecord) -> Option<String> {
    match mr.size.cmp(&kr.size) {
        std::cmp::Ordering::Less => Some("smaller file".into()),
        std::cmp::Ordering::Greater => Some("larger file".into()),
        std::cmp::Ordering::Equal => None,
    }
}

fn mean(v: &[u8]) -> f32 {
    v.iter().map(|&x| x as f32).sum::<f32>() / v.len().max(1) as f32
}

/// Pearson correlation of two equal square luma grids, `b` mirrored left
/// to right when asked; `None` when either is flat or they differ in size.
fn correlation(a: &[u8], b: &[u8], mirror_b: bool) -> Option<f32> {
    let n = (a.len() as f64).sqrt() as usize;
    if a.len() != b.len() || n * n != a.len() || n == 0 {
        return None;
    }
    let at = |i: usize| match mirror_b {
        true => b[(i / n) * n + (n - 1 - i % n)],
        false => b[i],
    } as f64;
    let (ma, mb) = (mean(a) as f64, mean(b) as f64);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (i, &x) in a.iter().enumerate() {
        let (da, db) = (x as f64 - ma, at(i) - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    (saa > 0.0 && sbb > 0.0).then(|| (sab / (saa * sbb).sqrt()) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_sees_a_mirror() {
        let n = 8;
        let a: Vec<u8> = (0..n * n).map(|i| ((i % n) * 30 + (i / n)) as u8).collect();
        let m: Vec<u8> = (0..n * n)
            .map(|i| a[(i / n) * n + (n - 1 - i % n)])
            .collect();
        assert!(correlation(&a, &a, false).unwrap() > 0.999);
        assert!(correlation(&a, &m, false).unwrap() < 0.0);
        assert!(correlation(&a, &m, true).unwrap() > 0.999);
        assert_eq!(correlation(&a, &[7u8; 64], false), None);
    }
}
