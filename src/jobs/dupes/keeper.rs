//! The suggested keeper: the most original copy, not the largest. Members
//! are ranked by evidence of editing first, each rule relative to the set
//! being ranked, then by size, age and path:
//!
//! 1. an added uniform frame (border trimming found one);
//! 2. corner wedges, as a rotation by a few degrees leaves them;
//! 3. greyscale while a member has colour;
//! 4. a mean brightness more than 10 levels from the members' median (a
//!    brightened or darkened copy: most copies keep the original's tones);
//! 5. a contrast (luma spread) outside 0.85–1.18× the members' median;
//! 6. a JPEG quantised 25% harder than the gentlest JPEG among the
//!    members rules 1–5 leave (an edited copy saved at a higher quality
//!    that rules 4–5 flag does not count against the original; in a group
//!    of two the median is both members' mean, and such a copy often is
//!    not flagged);
//! 7. upscaling: 1.5× the pixels of a smaller member of the same format
//!    with under 0.45× its bytes per pixel (resolution without detail);
//! 8. fewer pixels (a downscale or a crop);
//! 9. a later modification time;
//! 10. no capture date (EXIF) while a member has one (editors and
//!     converters often drop the metadata; before rule 11, whose file
//!     sizes the metadata itself would tip);
//! 11. a re-encode at the same quality: a JPEG of the same size in pixels
//!     and the same quantisation as another member, with a file up to 1%
//!     larger (decoding and encoding again adds rounding noise, which
//!     costs a few bytes: 0.0–0.5% on the series set's mirrored and
//!     greyscale copies, made from captures saved at the same quality);
//!
//! then the larger file, then the path.
//!
//! Rules 1–7 read the stored signatures (`features::signature`); a member
//! without one has no evidence against it. The content decides before the
//! clock, so copies that kept the original's modification time (`cp -p`,
//! sync tools) are ranked the same way. The keeper's reason names the rule
//! that put it ahead of the runner-up, each other member's the rule that
//! put the keeper ahead of that member.

use std::collections::HashMap;

use crate::features::signature::{Edits, Signature};
use crate::store::{ImageId, ImageRecord};

/// The rule names, in rank order (index = rule).
const RULES: [&str; 11] = [
    "no added frame",
    "not rotated",
    "in colour",
    "original brightness",
    "original contrast",
    "least compressed",
    "not upscaled",
    "largest resolution",
    "oldest modification time",
    "has a capture date",
    "not a re-encode at the same quality",
];

/// What the ranking reads about each image.
pub(super) struct Ranker<'a> {
    pub records: &'a [(ImageId, ImageRecord)],
    /// By record index, for the images that have a signature.
    pub traits: &'a HashMap<u32, Traits>,
}

/// What rules 1–7 read of an image's signature: its tones and its edit
/// flags (a few bytes, kept for every verified image where the signature
/// itself, 4 KB, is not).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Traits {
    /// Mean and spread of the signature's luma.
    pub tones: (f32, f32),
    pub edits: Edits,
}

impl Traits {
    pub fn of(s: &Signature) -> Traits {
        Traits {
            tones: tones(s),
            edits: s.edits,
        }
    }
}

/// One member's evidence, comparable: lower is more original.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    flags: [bool; 7],
    fewer_pixels: std::cmp::Reverse<u64>,
    mtime: i64,
    undated: bool,
    re_encoded: bool,
    smaller: std::cmp::Reverse<u64>,
    path: Vec<u8>,
}

/// Tone statistics of a signature: (mean, spread) of its luma.
fn tones(s: &Signature) -> (f32, f32) {
    let n = s.luma.len().max(1) as f32;
    let mean = s.luma.iter().map(|&v| f32::from(v)).sum::<f32>() / n;
    let var = s
        .luma
        .iter()
        .map(|&v| (f32::from(v) - mean).powi(2))
        .sum::<f32>()
        / n;
    (mean, var.sqrt())
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    v.sort_by(f32::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

impl Ranker<'_> {
    fn rec(&self, i: u32) -> &ImageRecord {
        &self.records[i as usize].1
    }

    /// `members` ordered best keeper first.
    pub(super) fn rank(&self, members: &[u32]) -> Vec<u32> {
        let keys = self.keys(members);
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        order.into_iter().map(|i| members[i]).collect()
    }

    /// The rule that ranks `keeper` ahead of the runner-up of `group`
    /// (their first differing key), by name.
    pub(super) fn reason(&self, keeper: u32, group: &[u32]) -> String {
        self.explain(keeper, group).0
    }

    /// The keeper's reason ([`Ranker::reason`]) and, for each member of
    /// `group` (in order), the rule that ranks `keeper` ahead of it, as
    /// "rule 7 (not upscaled)"; `None` for the keeper, where only the file
    /// size or the path does, and where the keeper is not ahead by the
    /// rules (a decision kept the member out of the choice). The runner-up's
    /// rule need not be the one against every member (an upscaled copy has
    /// more pixels than the keeper). The keys are made once for both.
    pub(super) fn explain(&self, keeper: u32, group: &[u32]) -> (String, Vec<Option<String>>) {
        let keys = self.keys(group);
        let Some(k) = group.iter().position(|&m| m == keeper) else {
            return ("suggested keeper".into(), vec![None; group.len()]);
        };
        let runner = (0..group.len()).filter(|&i| i != k).map(|i| &keys[i]).min();
        let reason = match runner.map(|r| deciding_rule(&keys[k], r)) {
            None => "suggested keeper".into(),
            Some(Some(i)) => format!("suggested keeper: {} (keeper rule {})", RULES[i], i + 1),
            Some(None) => "suggested keeper: no evidence of editing tells them apart \
                           (larger file, then path)"
                .into(),
        };
        let ahead = (0..group.len())
            .map(|i| {
                (keys[k] < keys[i])
                    .then(|| deciding_rule(&keys[k], &keys[i]))
                    .flatten()
                    .map(|r| format!("rule {} ({})", r + 1, RULES[r]))
            })
            .collect();
        (reason, ahead)
    }

    fn keys(&self, members: &[u32]) -> Vec<Key> {
        let sig = |i: u32| self.traits.get(&i);
        let any_dated = members.iter().any(|&i| self.rec(i).taken.is_some());
        let first = self.first_flags(members);
        // Rule 6 compares against the gentlest JPEG among the members that
        // rules 1–5 leave in contention (all of them when none is left): an
        // edited copy saved at a higher quality (a captioned copy at 95)
        // must not make the original (at 92) look harder compressed.
        let quant = |i: u32| sig(i).map(|s| s.edits.jpeg_quant).filter(|&q| q > 0);
        let unedited: Vec<u32> = (members.iter().zip(&first))
            .filter(|(_, f)| !f.contains(&true))
            .map(|(&i, _)| i)
            .collect();
        let pool = if unedited.is_empty() {
            members
        } else {
            &unedited
        };
        let min_quant = pool.iter().filter_map(|&i| quant(i)).min();
        members
            .iter()
            .zip(first)
            .map(|(&i, first)| {
                let r = self.rec(i);
                let harder = match (min_quant, quant(i)) {
                    (Some(m), Some(q)) => q as f32 > 1.25 * m as f32,
                    _ => false,
                };
                let [f1, f2, f3, f4, f5] = first;
                Key {
                    flags: [f1, f2, f3, f4, f5, harder, self.upscaled(i, members)],
                    fewer_pixels: std::cmp::Reverse(pixels(r)),
                    mtime: r.mtime_ns,
                    undated: r.taken.is_none() && any_dated,
                    re_encoded: self.re_encoded(i, members),
                    smaller: std::cmp::Reverse(r.size),
                    path: r.path.clone(),
                }
            })
            .collect()
    }

    /// Rules 1–5 for each member: an added frame, corner wedges, greyscale
    /// among colour, brightness and contrast away from the members' median.
    fn first_flags(&self, members: &[u32]) -> Vec<[bool; 5]> {
        let sig = |i: u32| self.traits.get(&i);
        let stats: Vec<Option<(f32, f32)>> =
            members.iter().map(|&i| sig(i).map(|t| t.tones)).collect();
        let any_colour = members
            .iter()
            .any(|&i| sig(i).is_some_and(|s| !s.edits.grey));
        let med_mean = median(stats.iter().flatten().map(|t| t.0).collect());
        let med_spread = median(stats.iter().flatten().map(|t| t.1).collect());
        members
            .iter()
            .zip(&stats)
            .map(|(&i, st)| {
                let s = sig(i);
                let e = s.map(|s| s.edits).unwrap_or_default();
                [
                    e.framed,
                    e.wedges,
                    s.is_some() && e.grey && any_colour,
                    matches!((st, med_mean), (Some(t), Some(m)) if (t.0 - m).abs() > 10.0),
                    matches!((st, med_spread), (Some(t), Some(m))
                        if m > 0.0 && !(0.85..=1.0 / 0.85).contains(&(t.1 / m))),
                ]
            })
            .collect()
    }

    /// `i` has 1.5× the pixels of another member but under 0.45× its
    /// bytes per pixel.
    fn upscaled(&self, i: u32, members: &[u32]) -> bool {
        let r = self.rec(i);
        let bpp = |r: &ImageRecord| r.size as f64 / pixels(r).max(1) as f64;
        members.iter().any(|&o| {
            let q = self.rec(o);
            o != i
                && pixels(r) as f64 >= 1.5 * pixels(q) as f64
                && bpp(r) < 0.45 * bpp(q)
                && r.format == q.format
        })
    }
}

/// Index in [`RULES`] of the first rule on which `a` and `b` differ.
fn deciding_rule(a: &Key, b: &Key) -> Option<usize> {
    (0..7)
        .find(|&i| a.flags[i] != b.flags[i])
        .or_else(|| (a.fewer_pixels != b.fewer_pixels).then_some(7))
        .or_else(|| (a.mtime != b.mtime).then_some(8))
        .or_else(|| (a.undated != b.undated).then_some(9))
        .or_else(|| (a.re_encoded != b.re_encoded).then_some(10))
}

impl Ranker<'_> {
    /// `i` is a JPEG with the pixel size and quantisation of another
    /// member whose file is smaller by at most 1%.
    fn re_encoded(&self, i: u32, members: &[u32]) -> bool {
        let quant = |m: u32| self.traits.get(&m).map_or(0, |s| s.edits.jpeg_quant);
        let (r, q) = (self.rec(i), quant(i));
        q > 0
            && members.iter().any(|&o| {
                let other = self.rec(o);
                o != i
                    && quant(o) == q
                    && (other.width, other.height) == (r.width, r.height)
                    && other.size < r.size
                    && r.size as f64 <= 1.01 * other.size as f64
            })
    }
}

fn pixels(r: &ImageRecord) -> u64 {
    u64::from(r.width) * u64::from(r.height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::signature::Edits;

    fn record(path: &str, size: u64) -> ImageRecord {
        ImageRecord {
            taken: None,
            path: path.as_bytes().to_vec(),
            size,
            mtime_ns: 0,
            digest: [0; 32],
            width: 720,
            height: 528,
            format: "jpeg".into(),
            hashes: None,
            histogram: None,
        }
    }

    fn signature(jpeg_quant: u32) -> Signature {
        Signature {
            luma: vec![100; 64 * 64],
            width: 720,
            height: 528,
            chroma: vec![128; 128],
            edits: Edits {
                jpeg_quant,
                ..Edits::default()
            },
            palette: None,
        }
    }

    #[test]
    fn a_same_quality_re_encode_loses_to_its_source_and_a_big_gap_does_not_count() {
        // b: 0.3% larger than a, same pixels and quantisation (a re-encode);
        // c: 10% larger (different content, not a re-encode of a).
        let records = vec![
            (1, record("/b/copy.jpg", 100_300)),
            (2, record("/a/capture.jpg", 100_000)),
            (3, record("/c/other.jpg", 110_000)),
        ];
        let traits = (0..3).map(|i| (i, Traits::of(&signature(592)))).collect();
        let r = Ranker {
            records: &records,
            traits: &traits,
        };
        assert_eq!(r.rank(&[0, 1])[0], 1, "the smaller of a near-equal pair");
        assert!(r.reason(1, &[0, 1]).contains("keeper rule 11"));
        // Without the 1% window the larger file wins, as before.
        assert_eq!(r.rank(&[1, 2])[0], 2);
        // A different quantisation is rule 6's business, not rule 11's.
        let mut other_q = traits.clone();
        other_q.insert(0, Traits::of(&signature(600)));
        let r = Ranker {
            records: &records,
            traits: &other_q,
        };
        assert_eq!(r.rank(&[0, 1])[0], 0);
    }
}
