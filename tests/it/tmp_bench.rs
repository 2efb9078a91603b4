use crate::util::*;
use std::time::Instant;
#[test]
fn tmp_bench() {
    let t = Instant::now();
    let imgs: Vec<_> = (0..20).map(|i| scene(i, 960, 720)).collect();
    eprintln!("scene: {:?}/img", t.elapsed() / 20);
    let t = Instant::now();
    for im in &imgs { let _ = png_bytes(&image::DynamicImage::ImageRgb8(im.clone())); }
    eprintln!("png adaptive: {:?}/img", t.elapsed() / 20);
    let t = Instant::now();
    for im in &imgs {
        let mut buf = Vec::new();
        use image::ImageEncoder;
        image::codecs::png::PngEncoder::new_with_quality(&mut buf, image::codecs::png::CompressionType::Fast, image::codecs::png::FilterType::NoFilter).write_image(im.as_raw(), 960, 720, image::ExtendedColorType::Rgb8).unwrap();
    }
    eprintln!("png nofilter: {:?}/img", t.elapsed() / 20);
    let t = Instant::now();
    for im in &imgs { let _ = jpeg_bytes(im, 90); }
    eprintln!("jpeg: {:?}/img", t.elapsed() / 20);
}
