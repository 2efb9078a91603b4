//! The capture date on duplicate cards: a JPEG carrying an EXIF
//! DateTimeOriginal (an APP1 segment written by hand here) is indexed, and
//! `dupes --json` reports its `taken` date, while a copy without EXIF, or
//! with a camera's zeroed date, has `taken: null` (the UI then shows the
//! modification time); with one modification time, the member with a
//! capture date is the suggested keeper.

use std::path::Path;

use serde_json::Value;

use crate::util::{self, Sandbox};

/// `jpeg` with an EXIF APP1 segment right after its SOI marker, holding
/// one tag, DateTimeOriginal = `date` ("YYYY:MM:DD HH:MM:SS"), in a
/// big-endian TIFF structure: IFD0 with the Exif IFD pointer, the Exif
/// IFD with the date, then the date's 20 ASCII bytes.
pub fn with_exif_date(jpeg: &[u8], date: &str) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "not a JPEG");
    assert_eq!(date.len(), 19);
    let entry = |tag: u16, kind: u16, count: u32, value: u32| -> Vec<u8> {
        [
            &tag.to_be_bytes()[..],
            &kind.to_be_bytes(),
            &count.to_be_bytes(),
            &value.to_be_bytes(),
        ]
        .concat()
    };
    let mut tiff = b"MM\0\x2a".to_vec();
    tiff.extend(8u32.to_be_bytes()); // IFD0 at 8
    tiff.extend(1u16.to_be_bytes());
    tiff.extend(entry(0x8769, 4, 1, 26)); // Exif IFD at 8 + 18
    tiff.extend(0u32.to_be_bytes());
    tiff.extend(1u16.to_be_bytes());
    tiff.extend(entry(0x9003, 2, 20, 44)); // the date at 26 + 18
    tiff.extend(0u32.to_be_bytes());
    tiff.extend(date.as_bytes());
    tiff.push(0);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(((payload.len() + 2) as u16).to_be_bytes());
    out.extend(payload);
    out.extend(&jpeg[2..]);
    out
}

fn member<'a>(report: &'a Value, path: &Path) -> &'a Value {
    let p = util::disp(path);
    report["details"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["members"].as_array().unwrap())
        .find(|m| m["path"] == p.as_str())
        .unwrap_or_else(|| panic!("{p} is in no group: {report:#}"))
}

#[test]
fn dupes_reports_the_exif_capture_date_else_null() {
    let sb = Sandbox::new();
    let dir = sb.dir("photos");
    let img = util::scene(410, 192, 144);
    let dated = dir.join("dated.jpg");
    util::write(
        &dated,
        &with_exif_date(&util::jpeg_bytes(&img, 92), "2019:05:01 12:34:56"),
    );
    let zeroed = dir.join("zeroed.jpg");
    let jpeg = util::jpeg_bytes(&img, 85);
    util::write(&zeroed, &with_exif_date(&jpeg, "0000:00:00 00:00:00"));
    let plain = dir.join("plain.png");
    util::write_png(&plain, &util::resized(&img, 96, 72));
    sb.index_basic([&dir]).0.assert_code(0);

    let out = sb.imgdex(["dupes", "--json"]);
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["details"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(member(&report, &dated)["taken"], "2019-05-01T12:34:56");
    for p in [&zeroed, &plain] {
        let m = member(&report, p);
        assert!(m["taken"].is_null(), "{m:#}");
        assert!(m["modified"].as_i64().unwrap() > 0, "{m:#}");
    }
    // The HTML report shows it too.
    let page = sb.root.join("review.html");
    let out = sb.imgdex(["dupes", "--report", page.to_str().unwrap()]);
    out.assert_code(0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("taken 2019-05-01 12:34:56").count(), 1);
}

/// Two JPEGs with the same pixels and quality, one carrying the camera's
/// capture date and one not (an editor dropped the metadata), with one
/// modification time (as `cp -p` leaves): the dated one is kept, though
/// its EXIF segment makes its file a little larger, which the
/// same-quality re-encode rule alone would read as the re-encode.
#[test]
fn with_one_modification_time_the_dated_original_is_kept() {
    let sb = Sandbox::new();
    let dir = sb.dir("photos");
    let img = util::scene(411, 640, 480);
    let jpeg = util::jpeg_bytes(&img, 92);
    let (dated, plain) = (dir.join("b_camera.jpg"), dir.join("a_export.jpg"));
    let with_date = with_exif_date(&jpeg, "2019:05:01 12:34:56");
    assert!(
        with_date.len() * 100 <= jpeg.len() * 101,
        "the dated file is at most 1% larger: {} vs {}",
        with_date.len(),
        jpeg.len()
    );
    util::write(&dated, &with_date);
    util::write(&plain, &jpeg);
    let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    for p in [&dated, &plain] {
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_modified(when).unwrap();
    }
    sb.index_basic([&dir]).0.assert_code(0);
    let out = sb.imgdex(["dupes", "--json"]);
    out.assert_code(0);
    let report = out.json();
    let d = &report["details"][0];
    assert_eq!(d["keeper"], util::disp(&dated).as_str(), "{report:#}");
    let reason = member(&report, &dated)["reason"].as_str().unwrap();
    assert!(
        reason.contains("has a capture date (keeper rule 10)"),
        "{reason}"
    );
}
