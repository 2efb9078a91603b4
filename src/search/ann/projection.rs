//! The seeded random projection the HNSW graph indexes (1280-d embeddings
//! down to `projected_dim`), and the small seeded generator behind it and
//! the test fixtures.

/// A seeded random projection with orthonormal columns: a Gaussian matrix
/// (Johnson–Lindenstrauss) orthonormalised by Gram–Schmidt. To fewer
/// dimensions it keeps a random subspace; to as many (the 128-d whitened
/// space into a 128-d graph) it is a rotation, so the graph is built on the
/// search space's own distances. (A square Gaussian matrix is no isometry:
/// its smallest singular value is near zero, and on real embeddings the
/// true 10 nearest often fell outside the graph's re-ranked 80.)
#[derive(Debug, Clone)]
pub struct Projection {
    pub from: usize,
    pub to: usize,
    matrix: Vec<f32>,
}

impl Projection {
    pub fn new(from: usize, to: usize, seed: u64) -> Self {
        let mut rng = SplitMix(seed);
        // Column j of the `from × to` row-major matrix is output direction j.
        let mut columns: Vec<Vec<f64>> = (0..to)
            .map(|_| (0..from).map(|_| f64::from(rng.gaussian())).collect())
            .collect();
        orthonormalise(&mut columns);
        let matrix = (0..from * to)
            .map(|i| columns[i % to][i / to] as f32)
            .collect();
        Projection { from, to, matrix }
    }

    /// Project and re-normalise (so L2 in the projection tracks cosine).
    pub fn apply(&self, v: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; self.to];
        for (x, row) in v.iter().zip(self.matrix.chunks_exact(self.to)) {
            if *x != 0.0 {
                for (o, m) in out.iter_mut().zip(row) {
                    *o += x * m;
                }
            }
        }
        crate::vecmath::l2_normalised(&out)
    }

    /// `apply` over many vectors as blocked matrix products (several times
    /// faster than one vector at a time; used for builds and `dupes`).
    pub fn apply_many(&self, vs: &[&[f32]]) -> Vec<Vec<f32>> {
        const BLOCK: usize = 2048;
        let matrix = ndarray::ArrayView2::from_shape((self.from, self.to), &self.matrix)
            .expect("projection shape");
        let mut out = Vec::with_capacity(vs.len());
        let mut buf = Vec::with_capacity(BLOCK.min(vs.len()) * self.from);
        for block in vs.chunks(BLOCK) {
            buf.clear();
            block.iter().for_each(|v| buf.extend_from_slice(v));
            let rows = ndarray::ArrayView2::from_shape((block.len(), self.from), &buf)
                .expect("block shape");
            let projected = rows.dot(&matrix);
            out.extend(
                projected
                    .rows()
                    .into_iter()
                    .map(|r| crate::vecmath::l2_normalised(r.as_slice().expect("row-major"))),
            );
        }
        out
    }
}

/// Modified Gram–Schmidt: each vector made orthogonal to the ones before it
/// and of unit length (with `to ≤ from` Gaussian vectors none is degenerate;
/// one that were would stay zero, and its output dimension constant).
fn orthonormalise(vs: &mut [Vec<f64>]) {
    for i in 0..vs.len() {
        let (done, rest) = vs.split_at_mut(i);
        let v = &mut rest[0];
        for u in done.iter() {
            let dot: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(x, a)| *x -= dot * a);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-12 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

/// SplitMix64: a tiny, well-distributed seeded generator.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}
