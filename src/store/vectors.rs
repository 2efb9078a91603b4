//! Reading many embeddings at once: the scans behind every job that needs
//! "the current embeddings" of a model, streamed from the embedding tree so
//! that only what the caller asked for is held (all vectors, one kind of
//! vector, a count, or a sample).

use super::{key_to_id, record, ImageId, Store, StoredEmbedding};
use crate::error::Result;
use crate::store::EmbeddingRecord;

/// Readable embedding records, and the ids of corrupt ones with the reason.
pub type EmbeddingScan = (Vec<(ImageId, EmbeddingRecord)>, Vec<(ImageId, String)>);

impl Store {
    /// Every embedding record; corrupt ones are listed apart, never fatal.
    pub fn scan_embeddings(&self) -> Result<EmbeddingScan> {
        let mut ok = Vec::new();
        let mut corrupt = Vec::new();
        for kv in self.embeddings.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let id = key_to_id(&k);
            match record::decode::<StoredEmbedding>(&v) {
                Ok(s) => ok.push((id, s.into())),
                Err(e) => corrupt.push((id, e.to_string())),
            }
        }
        Ok((ok, corrupt))
    }

    /// The embeddings made by the model whose fingerprint string is `fp`,
    /// in id order: the one loader behind every job that needs "the current
    /// embeddings". Corrupt records are left out (`info` reports them, the
    /// next `index` repairs them), and so is any vector whose length differs
    /// from the first (one model makes one length).
    pub fn current_embeddings(&self, fp: &str) -> Result<Vec<(ImageId, Vec<f32>)>> {
        let mut out = Vec::new();
        self.for_each_embedding(fp, |id, v| out.push((id, v)))?;
        Ok(out)
    }

    /// How many readable embedding records the model `fp` made.
    pub fn count_embeddings(&self, fp: &str) -> Result<usize> {
        let mut n = 0;
        self.for_current(fp, |_, _| n += 1)?;
        Ok(n)
    }

    /// The embeddings at `positions` (ascending, in id order) among those
    /// the model `fp` made, streamed: only those are held.
    pub fn embeddings_at(&self, fp: &str, positions: &[usize]) -> Result<Vec<Vec<f32>>> {
        let (mut at, mut next) = (0usize, positions.iter().peekable());
        let mut out = Vec::with_capacity(positions.len());
        self.for_current(fp, |_, e| {
            while next.peek() == Some(&&at) {
                out.push(e.to_f32());
                next.next();
            }
            at += 1;
        })?;
        Ok(out)
    }

    /// `f` on every readable embedding record of model `fp`, in id order.
    fn for_current(&self, fp: &str, mut f: impl FnMut(ImageId, &EmbeddingRecord)) -> Result<()> {
        let code = record::fingerprint_code(fp);
        for kv in self.embeddings.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            if let Ok(s) = record::decode::<StoredEmbedding>(&v) {
                let e = EmbeddingRecord::from(s);
                if e.fingerprint == code {
                    f(key_to_id(&k), &e);
                }
            }
        }
        Ok(())
    }

    /// The first readable embedding record the model `fp` made.
    pub fn first_embedding(&self, fp: &str) -> Result<Option<EmbeddingRecord>> {
        let code = record::fingerprint_code(fp);
        for kv in self.embeddings.iter() {
            let (_, v) = kv.map_err(|e| self.err(e))?;
            match record::decode::<StoredEmbedding>(&v).map(EmbeddingRecord::from) {
                Ok(e) if e.fingerprint == code => return Ok(Some(e)),
                _ => {}
            }
        }
        Ok(None)
    }

    /// [`Store::current_embeddings`] one at a time, in the same order and
    /// with the same records left out, without collecting them.
    pub fn for_each_embedding(&self, fp: &str, f: impl FnMut(ImageId, Vec<f32>)) -> Result<()> {
        self.for_each_vector(fp, EmbeddingRecord::to_f32, f)
    }

    /// `pick` of every current record of model `fp`, one at a time, in id
    /// order; a vector whose length differs from the first is left out (one
    /// model makes one length).
    pub fn for_each_vector<T>(
        &self,
        fp: &str,
        pick: fn(&EmbeddingRecord) -> Vec<T>,
        mut f: impl FnMut(ImageId, Vec<T>),
    ) -> Result<()> {
        let mut dim = None;
        self.for_current(fp, |id, e| {
            let v = pick(e);
            if *dim.get_or_insert(v.len()) == v.len() {
                f(id, v);
            }
        })
    }
}
