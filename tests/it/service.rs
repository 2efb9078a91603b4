//! The server's resident state (`service`) as a library: a write
//! job that succeeded keeps its report when the reload after it fails, with
//! the reload's error beside it (before, the report, and with it the undo
//! journal's path after an apply, was dropped for the reload's error).

use imgdex::decode::DecodeConfig;
use imgdex::features::FeatureConfig;
use imgdex::service::{Resident, ResidentConfig};
use imgdex::store::{Store, StoreOptions, META};
use imgdex::Error;

use crate::util::Sandbox;

fn resident(sb: &Sandbox) -> Resident {
    let store = Store::open(&sb.db(), &StoreOptions::default()).unwrap();
    let cfg = ResidentConfig {
        decode: DecodeConfig::default(),
        features: FeatureConfig::default(),
        embed: None,
        sessions: 1,
        thumb_cache_bytes: 1 << 20,
        thumb_side: 256,
        reference: vec![],
    };
    Resident::new(store, cfg).unwrap()
}

#[test]
fn a_write_jobs_report_survives_a_failed_reload() {
    let sb = Sandbox::new();
    let r = resident(&sb);
    // The job succeeds but leaves a record the reload cannot read.
    let w = r
        .write("test", |store| {
            let meta = store.db().open_tree(META).unwrap();
            meta.insert("roots", &b"not a record"[..]).unwrap();
            Ok("the job's report")
        })
        .expect("a job that succeeded returns its report");
    assert_eq!(w.report, "the job's report");
    let e = w.reload_error.expect("the failed reload is reported");
    assert!(matches!(e, Error::CorruptRecord { .. }), "{e}");

    // A job that fails returns its own error, not the reload's.
    let err = r
        .write("test", |_| {
            Err::<(), _>(Error::InvalidArgument("the job failed".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("the job failed"), "{err}");

    // Reloads work again once the record is readable.
    let w = r
        .write("test", |store| {
            store.db().open_tree(META).unwrap().remove("roots").unwrap();
            Ok(1)
        })
        .unwrap();
    assert!(w.reload_error.is_none(), "{:?}", w.reload_error);
}
