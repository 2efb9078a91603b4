//! How good a labelling is: accuracy, macro-F1 and a per-class confusion
//! summary for a classifier against the truth, and the normalised mutual
//! information between a clustering and reference labels.

use std::collections::HashMap;

use serde::Serialize;

/// A class that images of another class were mistaken for.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Confusion {
    pub label: String,
    pub count: usize,
}

/// One true class: how often it was recognised and what it was taken for.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassReport {
    pub label: String,
    /// Validation images of this class.
    pub support: usize,
    pub correct: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Wrong predictions for this class, most frequent first (at most 3).
    pub confused_with: Vec<Confusion>,
}

/// Scores of predictions against the truth.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    pub accuracy: f64,
    /// Unweighted mean of per-class F1 over the classes that occur in the
    /// truth or the predictions (scikit-learn's `f1_score(average="macro")`).
    pub macro_f1: f64,
    pub per_class: Vec<ClassReport>,
}

/// Compare predicted class indices with true ones; `names[c]` names class c.
pub fn evaluate(truth: &[u32], pred: &[u32], names: &[String]) -> Evaluation {
    let c = names.len();
    let mut tp = vec![0usize; c];
    let mut support = vec![0usize; c];
    let mut predicted = vec![0usize; c];
    let mut wrong: HashMap<(u32, u32), usize> = HashMap::new();
    for (&t, &p) in truth.iter().zip(pred) {
        support[t as usize] += 1;
        predicted[p as usize] += 1;
        if t == p {
            tp[t as usize] += 1;
        } else {
            *wrong.entry((t, p)).or_default() += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let f1_of = |i: usize| {
        let (p, r) = (ratio(tp[i], predicted[i]), ratio(tp[i], support[i]));
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    };
    let scored: Vec<usize> = (0..c)
        .filter(|&i| support[i] > 0 || predicted[i] > 0)
        .collect();
    let macro_f1 = if scored.is_empty() {
        0.0
    } else {
        scored.iter().map(|&i| f1_of(i)).sum::<f64>() / scored.len() as f64
    };
    let per_class = (0..c)
        .filter(|&i| support[i] > 0)
        .map(|i| ClassReport {
            label: names[i].clone(),
            support: support[i],
            correct: tp[i],
            precision: ratio(tp[i], predicted[i]),
            recall: ratio(tp[i], support[i]),
            f1: f1_of(i),
            confused_with: confusions(&wrong, i as u32, names),
        })
        .collect();
    Evaluation {
        accuracy: ratio(tp.iter().sum(), truth.len()),
        macro_f1,
        per_class,
    }
}

fn confusions(wrong: &HashMap<(u32, u32), usize>, t: u32, names: &[String]) -> Vec<Confusion> {
    let mut v: Vec<(u32, usize)> = wrong
        .iter()
        .filter(|((a, _), _)| *a == t)
        .map(|((_, p), &n)| (*p, n))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(3)
        .map(|(p, count)| Confusion {
            label: names[p as usize].clone(),
            count,
        })
        .collect()
}

/// Normalised mutual information between two labellings of the same items,
/// `I(A;B) / mean(H(A), H(B))` (scikit-learn's default, arithmetic mean);
/// 1 when they agree up to renaming, 0 when independent.
pub fn nmi(a: &[u32], b: &[u32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mut joint: HashMap<(u32, u32), usize> = HashMap::new();
    let mut ca: HashMap<u32, usize> = HashMap::new();
    let mut cb: HashMap<u32, usize> = HashMap::new();
    for i in 0..n {
        *joint.entry((a[i], b[i])).or_default() += 1;
        *ca.entry(a[i]).or_default() += 1;
        *cb.entry(b[i]).or_default() += 1;
    }
    let nf = n as f64;
    let entropy = |c: &HashMap<u32, usize>| {
        -c.values()
            .map(|&k| k as f64 / nf)
            .map(|p| p * p.ln())
            .sum::<f64>()
    };
    let (ha, hb) = (entropy(&ca), entropy(&cb));
    if ha == 0.0 && hb == 0.0 {
        return 1.0;
    }
    let mi: f64 = joint
        .iter()
        .map(|(&(x, y), &k)| {
            let pxy = k as f64 / nf;
            pxy * (pxy * nf * nf / (ca[&x] as f64 * cb[&y] as f64)).ln()
        })
        .sum();
    let denom = (ha + hb) / 2.0;
    if denom > 0.0 {
        (mi / denom).clamp(0.0, 1.0)
    } else {
        0.0
    }
}
