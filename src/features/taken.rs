//! When a photo was taken: the EXIF DateTimeOriginal that `index` reads
//! from the file's bytes (JPEG, TIFF, PNG, WebP and HEIF containers, through
//! `kamadak-exif`) and stores in the image record, so a reviewer sees the
//! capture date rather than only the file's modification time. EXIF names
//! no time zone, so the date is kept as the camera's local wall-clock time
//! in the form `YYYY-MM-DDTHH:MM:SS`. A file without EXIF, without the
//! tag, or with a blank or impossible date has none; a damaged EXIF block
//! is not an error (the picture itself is what `index` analyses).

use std::io::Cursor;

use exif::{DateTime, In, Reader, Tag, Value};

/// The capture date in `bytes` (a whole image file), if it has one.
pub fn taken(bytes: &[u8]) -> Option<String> {
    let exif = Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()?;
    let field = exif.get_field(Tag::DateTimeOriginal, In::PRIMARY)?;
    let Value::Ascii(values) = &field.value else {
        return None;
    };
    let d = DateTime::from_ascii(values.first()?).ok()?;
    plausible(&d).then(|| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year, d.month, d.day, d.hour, d.minute, d.second
        )
    })
}

/// A date a camera could have written (cameras with an unset clock write
/// zeros, which `from_ascii` accepts).
fn plausible(d: &DateTime) -> bool {
    (1800..=9999).contains(&d.year)
        && (1..=12).contains(&d.month)
        && (1..=31).contains(&d.day)
        && d.hour < 24
        && d.minute < 60
        && d.second < 61
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_exif_no_date() {
        assert_eq!(taken(b"not an image at all"), None);
        assert_eq!(taken(&[0xFF, 0xD8, 0xFF, 0xD9]), None);
        assert_eq!(taken(&[]), None);
    }

    #[test]
    fn zeroed_dates_are_not_plausible() {
        let d = DateTime::from_ascii(b"0000:00:00 00:00:00").unwrap();
        assert!(!plausible(&d));
        let d = DateTime::from_ascii(b"2019:05:01 12:34:56").unwrap();
        assert!(plausible(&d));
    }
}
