//! The palette of a graphic: for an image of few colours (a sprite, an
//! icon, clip art: at most [`MAX_COLOURS`] distinct ones in its content
//! view), each colour that covers a noticeable share of it, with its pixel
//! count. Lossy coding never leaves so few colours, so a palette is itself
//! the evidence that the pixels are exact, and two palettes can be compared
//! colour by colour: a recoloured graphic (a shiny sprite, whose palette
//! swap the 32×32 chroma grid blurs into JPEG-like noise) keeps every
//! colour's pixel count and changes the colour, which no tone edit does
//! (`jobs::dupes::palette`). `None` for any image of more colours (nearly
//! every photo, found after a few hundred pixels; a GIF photo has one, but
//! two of its re-encodings seldom share pixel counts, and get no verdict).

use std::collections::HashMap;

use image::RgbImage;
use serde::{Deserialize, Serialize};

/// Past this many distinct colours an image has no palette.
pub const MAX_COLOURS: usize = 256;
/// Colours below this share of the pixels (1/500) are not kept: single
/// pixels and specks, too small to pair up by pixel count. (At 1/200 a
/// sprite's recoloured eyes were lost.)
pub const MIN_SHARE_PER_MILLE: u32 = 2;

/// One colour and how many pixels have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swatch {
    pub rgb: [u8; 3],
    pub count: u32,
}

/// The palette of an image of few colours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Palette {
    /// Pixels in the content view.
    pub total: u32,
    /// The colours of at least [`MIN_SHARE_PER_MILLE`]‰, most pixels first
    /// (equal counts by colour).
    pub swatches: Vec<Swatch>,
}

/// The palette of `img`, or `None` when it has more than [`MAX_COLOURS`]
/// colours.
pub fn of(img: &RgbImage) -> Option<Palette> {
    let mut counts: HashMap<[u8; 3], u32> = HashMap::new();
    for p in img.pixels() {
        *counts.entry(p.0).or_insert(0) += 1;
        if counts.len() > MAX_COLOURS {
            return None;
        }
    }
    let total = img.width() * img.height();
    let mut swatches: Vec<Swatch> = counts
        .into_iter()
        .filter(|&(_, count)| {
            u64::from(count) * 1000 >= u64::from(total) * u64::from(MIN_SHARE_PER_MILLE)
        })
        .map(|(rgb, count)| Swatch { rgb, count })
        .collect();
    swatches.sort_by(|a, b| b.count.cmp(&a.count).then(a.rgb.cmp(&b.rgb)));
    Some(Palette { total, swatches })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_colours_give_a_palette_and_many_do_not() {
        let img = RgbImage::from_fn(20, 10, |x, _| match x {
            0..10 => image::Rgb([255, 0, 0]),
            10..19 => image::Rgb([0, 0, 255]),
            _ => image::Rgb([0, 255, 0]),
        });
        let p = of(&img).expect("three colours");
        assert_eq!(p.total, 200);
        let counts: Vec<_> = p.swatches.iter().map(|s| (s.rgb, s.count)).collect();
        assert_eq!(
            counts,
            [([255, 0, 0], 100), ([0, 0, 255], 90), ([0, 255, 0], 10)]
        );
        let noise = RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8, y as u8, 7]));
        assert!(of(&noise).is_none(), "1,024 colours");
    }

    #[test]
    fn rare_colours_are_left_out() {
        // One pixel of 1,000 is under 2 per mille.
        let img = RgbImage::from_fn(100, 10, |x, y| match (x, y) {
            (0, 0) => image::Rgb([1, 2, 3]),
            _ => image::Rgb([9, 9, 9]),
        });
        let p = of(&img).unwrap();
        assert_eq!(p.swatches.len(), 1);
        assert_eq!((p.swatches[0].count, p.total), (999, 1000));
    }
}
