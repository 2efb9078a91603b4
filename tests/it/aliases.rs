//! One file, one record (issue 31): a folder reached a second time through
//! a symlink (a "backup" link to the real folder) indexes each image once,
//! under its real path, so query lists it once and `dupes` never offers an
//! alias of a file as a duplicate of itself.

use crate::util::{self, Sandbox};

#[test]
fn a_symlinked_folder_is_one_record_with_the_real_path() {
    let sb = Sandbox::new();
    let root = sb.dir("photos");
    let real = sb.dir("photos/Wallpapers");
    let a = real.join("Autumn.png");
    util::write_png(&a, &util::scene(41, 320, 240));
    util::write_png(&real.join("Other.png"), &util::scene(42, 320, 240));
    sb.dir("photos/Backup");
    std::os::unix::fs::symlink(&real, root.join("Backup/wallpapers-link")).unwrap();

    let (out, s) = sb.index_basic([&root]);
    out.assert_code(0);
    assert_eq!(s.indexed, 2, "each file once, not once per path");
    // Queried with the other image, Autumn comes back once, by its real path.
    let hits = sb.query_basic(&real.join("Other.png"), &["--by", "hash", "-k", "5"]);
    let paths: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    assert!(paths.contains(&util::disp(&a).as_str()), "{paths:?}");
    assert!(
        paths.iter().all(|p| !p.contains("wallpapers-link")),
        "{paths:?}"
    );
    let mut unique = paths.clone();
    unique.dedup();
    assert_eq!(unique, paths, "listed twice");
    assert!(sb.dupes(&[]).is_empty(), "an alias is not a duplicate");
}

#[test]
fn a_record_made_through_an_alias_goes_once_the_real_path_is_indexed() {
    let sb = Sandbox::new();
    let root = sb.dir("photos");
    let real = sb.dir("photos/Wallpapers");
    util::write_png(&real.join("Autumn.png"), &util::scene(43, 320, 240));
    util::write_png(&real.join("Other.png"), &util::scene(44, 320, 240));
    sb.dir("photos/Backup");
    std::os::unix::fs::symlink(&real, root.join("Backup/wallpapers-link")).unwrap();
    // Only the link is reachable from this root: the records have its paths.
    sb.index_basic([&root.join("Backup")]).0.assert_code(0);
    assert_eq!(sb.info().images, 2);
    // From the parent both paths are: one record each, under the real path.
    let (out, s) = sb.index_basic([&root]);
    out.assert_code(0);
    assert_eq!((s.indexed, s.removed), (2, 2), "{}", out.describe());
    assert_eq!(sb.info().images, 2);
    let hits = sb.query_basic(&real.join("Other.png"), &["--by", "hash", "-k", "5"]);
    let paths: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(paths, [util::disp(&real.join("Autumn.png"))], "{hits:?}");
}
