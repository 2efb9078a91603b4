//! Damaged files are reported (issue 31): a JPEG cut short decodes only in
//! part (the rest grey), and `index` says so with a per-file warning in its
//! summary instead of indexing it silently.

use crate::util::{self, Sandbox};

#[test]
fn a_truncated_jpeg_is_indexed_with_a_warning() {
    let sb = Sandbox::new();
    let dir = sb.dir("imgs");
    util::write_jpeg(&dir.join("whole.jpg"), &util::scene(3, 320, 240), 90);
    let bytes = util::jpeg_bytes(&util::scene(4, 320, 240), 90);
    let cut = dir.join("cut.jpg");
    util::write(&cut, &bytes[..bytes.len() * 3 / 5]);

    let (out, _) = sb.index_basic([&dir]);
    out.assert_code(0);
    let j = out.json();
    let warnings = j["warnings"].as_array().expect("warnings array");
    let failed = j["failed"].as_array().unwrap();
    // Whichever way the decoder takes it, the cut file is never silent.
    if failed.is_empty() {
        assert_eq!(warnings.len(), 1, "{j}");
        assert_eq!(warnings[0]["path"], util::disp(&cut), "{j}");
        assert!(warnings[0]["warning"]
            .as_str()
            .unwrap()
            .contains("truncated"));
    } else {
        assert_eq!(failed[0]["path"], util::disp(&cut), "{j}");
    }
    assert!(!j.to_string().contains("whole.jpg\",\"warning"), "{j}");
}
