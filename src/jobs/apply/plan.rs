//! Deciding, before anything is touched, exactly which files an apply run
//! acts on: the keeper of each group (by the keep policy), and for every
//! other member whether it is still the file the store describes (size,
//! modification time, and for hard links and deletes its bytes' BLAKE3).
//! A dry run prints this plan; a real run carries it out step by step.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::journal::Intent;
use super::{fsops, path_str, Action, ActionItem, ApplyConfig, GroupChoice, KeepPolicy};
use crate::error::{Error, Result};
use crate::jobs::FileIssue;
use crate::paths;
use crate::store::{ImageId, ImageRecord, Store};
use crate::walk;

/// One file to act on.
pub(super) struct Step {
    pub action: Action,
    pub id: ImageId,
    pub rec: ImageRecord,
    pub path: PathBuf,
    pub keeper_id: ImageId,
    pub keeper_rec: ImageRecord,
    pub keeper_path: PathBuf,
    /// move: the new path; trash: `files/NAME`; hardlink: the keeper.
    pub target: Option<PathBuf>,
    /// trash: `info/NAME.trashinfo`.
    pub info: Option<PathBuf>,
}

type ByPath = HashMap<String, (ImageId, ImageRecord)>;

/// Planned steps, and the members skipped with their reasons.
pub(super) fn plan(
    store: &Store,
    groups: &[GroupChoice],
    cfg: &ApplyConfig,
) -> Result<(Vec<Step>, Vec<FileIssue>)> {
    if let Action::Move { dir } = &cfg.action {
        check_move_dir(dir, &store.roots()?)?;
    }
    let by_path: ByPath = store
        .scan_images()?
        .records
        .into_iter()
        .map(|(id, r)| (paths::display(&r.path), (id, r)))
        .collect();
    let keepers: Vec<std::result::Result<String, String>> = groups
        .iter()
        .map(|g| {
            // A keeper under a reference folder stays, whatever the policy.
            let locked = crate::jobs::dupes::under_reference(Path::new(&g.keeper), &cfg.reference);
            let keep = if locked { KeepPolicy::Keeper } else { cfg.keep };
            choose_keeper(g, &by_path, keep)
        })
        .collect();
    let all_keepers: HashSet<&str> = keepers.iter().flatten().map(String::as_str).collect();
    let mut planner = Planner {
        cfg,
        by_path: &by_path,
        all_keepers: &all_keepers,
        kept: store.kept_ids()?,
        seen: HashSet::new(),
        taken: HashSet::new(),
        trash: match cfg.action {
            Action::Trash => Some(fsops::trash_dir()?),
            _ => None,
        },
        steps: Vec::new(),
        skipped: Vec::new(),
    };
    for (g, k) in groups.iter().zip(&keepers) {
        planner.group(g, k);
    }
    Ok((planner.steps, planner.skipped))
}

struct Planner<'a> {
    cfg: &'a ApplyConfig,
    by_path: &'a ByPath,
    all_keepers: &'a HashSet<&'a str>,
    /// Files a decision keeps in their group.
    kept: HashSet<ImageId>,
    seen: HashSet<String>,
    taken: HashSet<PathBuf>,
    trash: Option<PathBuf>,
    steps: Vec<Step>,
    skipped: Vec<FileIssue>,
}

impl Planner<'_> {
    fn skip(&mut self, path: &str, reason: String) {
        self.skipped.push(FileIssue {
            path: path.to_string(),
            error: reason,
        });
    }

    fn group(&mut self, g: &GroupChoice, keeper: &std::result::Result<String, String>) {
        fn others<'g>(g: &'g GroupChoice, k: &'g str) -> impl Iterator<Item = &'g String> {
            g.members.iter().filter(move |m| m.as_str() != k)
        }
        let keeper = match keeper {
            Ok(k) => k.clone(),
            Err(reason) => {
                for m in others(g, &g.keeper) {
                    self.skip(m, reason.clone());
                }
                return;
            }
        };
        let (kid, krec) = self.by_path[&keeper].clone();
        let kpath = paths::from_bytes(&krec.path);
        if let Err(reason) = check_file(&kpath, &krec, self.cfg.action.checks_digest()) {
            for m in others(g, &keeper) {
                self.skip(m, format!("its keeper {keeper} {reason}"));
            }
            return;
        }
        for m in others(g, &keeper) {
            match self.member(m, (&kpath, &krec.format)) {
                Ok((target, info)) => {
                    let (id, rec) = self.by_path[m].clone();
                    self.steps.push(Step {
                        action: self.cfg.action.clone(),
                        id,
                        path: paths::from_bytes(&rec.path),
                        rec,
                        keeper_id: kid,
                        keeper_rec: krec.clone(),
                        keeper_path: kpath.clone(),
                        target,
                        info,
                    });
                }
                Err(reason) => self.skip(m, reason),
            }
        }
    }

    /// Checks one member against its keeper (path, format); its target
    /// (and trash info file) when it may be acted on.
    fn member(
        &mut self,
        m: &str,
        (kpath, kformat): (&Path, &str),
    ) -> std::result::Result<(Option<PathBuf>, Option<PathBuf>), String> {
        if !self.seen.insert(m.to_string()) {
            return Err("listed more than once; acted on once".into());
        }
        if self.all_keepers.contains(m) {
            return Err("it is the keeper of another group".into());
        }
        let Some((id, rec)) = self.by_path.get(m) else {
            return Err("not in the store (re-run dupes)".into());
        };
        if self.kept.contains(id) {
            return Err("kept in its group by a decision; never acted on".into());
        }
        let path = paths::from_bytes(&rec.path);
        if crate::jobs::dupes::under_reference(&path, &self.cfg.reference) {
            return Err("under a reference folder; never acted on".into());
        }
        if path.to_str().is_none() {
            return Err("non-UTF-8 file names are not handled by apply".into());
        }
        check_file(&path, rec, self.cfg.action.checks_digest())?;
        let (target, info) = match &self.cfg.action {
            Action::Move { dir } => {
                let dir = std::path::absolute(dir).map_err(|e| e.to_string())?;
                let rel = path.strip_prefix("/").unwrap_or(&path);
                (Some(fsops::unique_name(&dir.join(rel), &self.taken)), None)
            }
            Action::Trash => {
                let trash = self.trash.as_deref().unwrap_or(Path::new("/"));
                let (f, i) = fsops::trash_slot(trash, &path, &self.taken);
                (Some(f), Some(i))
            }
            Action::Hardlink if rec.format != kformat => {
                return Err(format!(
                    "it is {} and its keeper {}: linked, its name would hold {} data",
                    rec.format, kformat, kformat
                ));
            }
            Action::Hardlink => {
                same_fs_not_linked(&path, kpath)?;
                (Some(kpath.to_path_buf()), None)
            }
            Action::Delete => (None, None),
        };
        self.taken.extend(target.iter().chain(&info).cloned());
        Ok((target, info))
    }
}

/// A move destination must be a folder (or not exist yet) outside every
/// indexed root: moved files inside a root would be indexed again.
fn check_move_dir(dir: &Path, roots: &[PathBuf]) -> Result<()> {
    let abs = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    if fs::metadata(&abs).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::InvalidArgument(format!(
            "move destination {} exists and is not a folder",
            abs.display()
        )));
    }
    let real = resolve_existing_prefix(&abs);
    match roots
        .iter()
        .find(|r| real.starts_with(r) || abs.starts_with(r))
    {
        Some(root) => Err(Error::InvalidArgument(format!(
            "move destination {} is inside the indexed folder {}, where the moved files \
             would be indexed again; choose a folder outside it",
            abs.display(),
            root.display()
        ))),
        None => Ok(()),
    }
}

/// `path` with its longest existing prefix canonicalised (symlinks resolved).
fn resolve_existing_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = path;
    loop {
        if let Ok(c) = fs::canonicalize(cur) {
            return rest.iter().rev().fold(c, |p, n| p.join(n));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn same_fs_not_linked(path: &Path, keeper: &Path) -> std::result::Result<(), String> {
    let (a, b) = (fs::metadata(path), fs::metadata(keeper));
    let (a, b) = (a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?);
    if a.dev() != b.dev() {
        return Err("on another filesystem than its keeper (no hard link possible)".into());
    }
    if a.ino() == b.ino() {
        return Err("already a hard link of its keeper".into());
    }
    Ok(())
}

/// The keeper of a group under `policy`; an error when it cannot be chosen.
fn choose_keeper(
    g: &GroupChoice,
    by_path: &ByPath,
    policy: KeepPolicy,
) -> std::result::Result<String, String> {
    if !g.members.contains(&g.keeper) {
        return Err(format!(
            "the keeper {} is not a member of its group",
            g.keeper
        ));
    }
    let rec = |p: &String| by_path.get(p).map(|(_, r)| r);
    let pick = |key: &dyn Fn(&ImageRecord) -> i128| {
        g.members
            .iter()
            .filter_map(|p| rec(p).map(|r| (key(r), *p == g.keeper, std::cmp::Reverse(p))))
            .max()
            .map(|(_, _, std::cmp::Reverse(p))| p.clone())
    };
    let chosen = match policy {
        KeepPolicy::Keeper => Some(g.keeper.clone()),
        KeepPolicy::Newest => pick(&|r| i128::from(r.mtime_ns)),
        KeepPolicy::Oldest => pick(&|r| -i128::from(r.mtime_ns)),
        KeepPolicy::Largest => pick(&|r| i128::from(r.size)),
    };
    match chosen {
        Some(k) if by_path.contains_key(&k) => Ok(k),
        Some(k) => Err(format!("its keeper {k} is not in the store (re-run dupes)")),
        None => Err("no member of the group is in the store (re-run dupes)".into()),
    }
}

/// Whether `path` is still the file `rec` describes.
pub(super) fn check_file(
    path: &Path,
    rec: &ImageRecord,
    digest: bool,
) -> std::result::Result<(), String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no longer exists".into()),
        Err(e) => return Err(e.to_string()),
    };
    if meta.file_type().is_symlink() {
        // Indexed through a link (a file linked in from outside the folders)
        // or replaced by one: apply acts on regular files only.
        return Err("is a symbolic link; apply acts only on regular files".into());
    }
    if !meta.is_file() {
        return Err("is no longer a regular file".into());
    }
    if meta.len() != rec.size {
        return Err(format!(
            "changed since it was indexed (size {} bytes, indexed {}); re-run index",
            meta.len(),
            rec.size
        ));
    }
    if walk::mtime_ns(&meta) != rec.mtime_ns {
        return Err(
            "changed since it was indexed (modification time differs); re-run index".into(),
        );
    }
    if digest && fsops::digest(path).map_err(|e| e.to_string())? != rec.digest {
        return Err("content differs from the indexed bytes (BLAKE3); re-run index".into());
    }
    Ok(())
}

impl Step {
    pub(super) fn item(&self, status: &'static str) -> ActionItem {
        ActionItem {
            op: self.action.name(),
            path: path_str(&self.path),
            target: self.target.as_deref().map(path_str),
            keeper: path_str(&self.keeper_path),
            status,
            bytes: self.rec.size,
        }
    }

    /// The same checks as planning, again just before acting; the keeper
    /// must still be there too.
    pub(super) fn recheck(&self, digest: bool) -> std::result::Result<(), String> {
        check_file(&self.keeper_path, &self.keeper_rec, false)
            .map_err(|r| format!("its keeper {} {r}", path_str(&self.keeper_path)))?;
        check_file(&self.path, &self.rec, digest)
    }

    pub(super) fn intent(&self, store: &Store, seq: u64, backups: &Path) -> Result<Intent> {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hardlink = self.action == Action::Hardlink;
        let embedding = store.get_embedding(self.id).ok().flatten();
        let signature = store.signature_record(self.id).ok().flatten();
        Ok(Intent {
            seq,
            op: self.action.name().to_string(),
            path: path_str(&self.path),
            target: self.target.as_deref().map(path_str),
            keeper: path_str(&self.keeper_path),
            info: self.info.as_deref().map(path_str),
            backup: hardlink.then(|| path_str(&backups.join(format!("{seq}-{name}")))),
            tmp: hardlink.then(|| {
                path_str(
                    &self
                        .path
                        .with_file_name(format!(".{name}.imgdex-link-{seq}")),
                )
            }),
            file: fsops::file_id(&self.path),
            keeper_file: fsops::file_id(&self.keeper_path),
            id: self.id,
            size: self.rec.size,
            mtime_ns: self.rec.mtime_ns,
            record: Intent::encode_record(&self.rec),
            embedding: embedding.as_ref().map(Intent::encode_embedding),
            signature: signature.as_ref().map(Intent::encode_signature),
        })
    }

    /// After the file was acted on: drop its record, or (hard link) make it
    /// describe the keeper's inode, which it now is.
    pub(super) fn update_store(&self, store: &Store) -> Result<()> {
        if self.action != Action::Hardlink {
            return store.remove_image(self.id);
        }
        let rec = ImageRecord {
            path: self.rec.path.clone(),
            ..self.keeper_rec.clone()
        };
        let emb = store.get_embedding(self.keeper_id)?;
        store.put_image(self.id, &rec, emb.as_ref())?;
        if emb.is_none() {
            store.remove_embedding(self.id)?;
        }
        match store.signature_record(self.keeper_id)? {
            Some(sig) => store.put_signature(self.id, &sig),
            None => store.remove_signature(self.id),
        }
    }
}
