//! Files decoded only in part. Decoders fill a JPEG whose entropy-coded data
//! stops early with grey, and some PNG decoders return the rows they got, so
//! a truncated file indexes "successfully" as a picture three quarters
//! grey. The container says it: a JPEG's scan never reaches its
//! end-of-image marker, a PNG has no `IEND` chunk. Index reports such files
//! with a per-file warning instead of silently.

/// Why `bytes` look cut short, for a JPEG or a PNG; `None` when complete
/// (or another format).
pub fn truncation(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let scan = find(bytes, &[0xFF, 0xDA])?;
        return find(&bytes[scan..], &[0xFF, 0xD9]).is_none().then_some(
            "truncated JPEG: the scan has no end-of-image marker; decoded only in part",
        );
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return find(bytes, b"IEND")
            .is_none()
            .then_some("truncated PNG: no IEND chunk; decoded only in part");
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::truncation;

    #[test]
    fn a_cut_jpeg_or_png_is_seen() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xDA, 0, 1, 2, 0xFF, 0xD9];
        assert_eq!(truncation(&jpeg), None);
        assert!(truncation(&jpeg[..7]).is_some());
        let mut png = b"\x89PNG\r\n\x1a\nIHDR....IEND".to_vec();
        assert_eq!(truncation(&png), None);
        png.truncate(12);
        assert!(truncation(&png).is_some());
        assert_eq!(truncation(b"GIF89a"), None);
    }
}
