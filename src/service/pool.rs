//! A few ONNX Runtime sessions shared by concurrent queries: a request
//! takes a free session (waiting when all are busy) and always gives it
//! back, even if the work on it fails or panics.

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::error::{Error, Result};
use crate::features::embedding::{EmbedConfig, Embedder};

pub struct EmbedderPool {
    take: Receiver<Embedder>,
    give: Sender<Embedder>,
}

/// Returns its session to the pool when dropped.
struct Lease<'a> {
    embedder: Option<Embedder>,
    pool: &'a EmbedderPool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.embedder.take() {
            let _ = self.pool.give.send(e);
        }
    }
}

impl EmbedderPool {
    /// `n` single-threaded sessions of the model in `cfg`.
    pub fn load(cfg: &EmbedConfig, n: usize) -> Result<EmbedderPool> {
        let mut cfg = cfg.clone();
        cfg.sessions = n.max(1);
        cfg.threads = 1;
        let sessions = Embedder::load_sessions(&cfg)?;
        let (give, take) = bounded(sessions.len());
        for s in sessions {
            let _ = give.send(s);
        }
        Ok(EmbedderPool { take, give })
    }

    /// Run `f` on a free session.
    pub fn with<T>(&self, f: impl FnOnce(&mut Embedder) -> Result<T>) -> Result<T> {
        let e = self.take.recv().map_err(|_| Error::NoSession)?;
        let mut lease = Lease {
            embedder: Some(e),
            pool: self,
        };
        match lease.embedder.as_mut() {
            Some(e) => f(e),
            None => Err(Error::NoSession),
        }
    }
}
