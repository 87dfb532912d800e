//! What the daemon must remember across restarts about the Mattermost posts it made: for every
//! box, the post that shows it. Without it a restart would post every open turn a second time.
//!
//! The file (`posts.json` in the data dir) is replaced atomically — temp file in the same dir,
//! fsync, rename, fsync of the dir — so a crash leaves either the old or the new version, never
//! half of one. It never holds a token: entries name the server by its URL only. The markers
//! written before each create go to a journal beside it (`marker_journal.rs`) and are part of
//! the store as read.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::marker_journal::{self, MARKERS_FILE};

pub const POSTS_FILE: &str = "posts.json";
const FORMAT_VERSION: u32 = 1;
/// Finished boxes are kept this long (a restart within it still knows their posts).
const KEEP_FINISHED_MS: i64 = 24 * 3600 * 1000;
/// A turn this much younger than the finished entries' lifetime has its entry for sure.
const PRUNE_MARGIN_MS: i64 = 3600 * 1000;
/// An unfinished entry this old belongs to a turn no restart will ever bring back.
const KEEP_UNFINISHED_MS: i64 = 7 * 24 * 3600 * 1000;
/// Far above what a week of boxes takes; bounds the read of a file planted in a bad data dir.
const MAX_POSTS_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the data dir {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("the data dir {} is not a directory", path.display())]
    NotADir { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// One box, as Mattermost posts know it: the gateway's state dir, the session key and the turn's
/// start. (The pipeline's turn counter restarts with the daemon, so it cannot be part of it.)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PostKey {
    pub gateway: String,
    pub session_key: String,
    pub started_ms: i64,
}

/// How a finished box ended, as far as its post shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Error,
    /// Includes the daemon's own stop: a restart may find the turn still running.
    Interrupted,
    /// Sent as far as it could be, then given up (a 4xx from the server).
    Abandoned,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostEntry {
    /// The server's base URL (never its token).
    pub server: String,
    pub channel_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_id: Option<String>,
    /// Wall-clock ms at which a create was about to be sent and no id has come back yet: after a
    /// crash the post may exist without us knowing its id, so the channel is searched for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creating_since_ms: Option<i64>,
    /// The text the post shows; dropped once finished (nothing compares against it then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
    #[serde(default)]
    pub finished: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The turn's `BoxOp::FirstLine` once known: which turn the post shows, in every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_line_ms: Option<i64>,
    /// The box's `follows_ms`: places a post made before its turn wrote a line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows_ms: Option<i64>,
    /// The Mattermost plugin made the post (its bot is the author): a restart continues it
    /// through the plugin when it answers (see sink/mattermost/plugin_link.rs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_plugin: bool,
    /// Wall-clock ms of the last change, for pruning.
    pub updated_ms: i64,
}

/// The file: read with `P` = `FileEntry`, written with each entry's kept bytes.
#[derive(Serialize, Deserialize)]
struct FileFormat<P> {
    version: u32,
    /// When the run that wrote the file started (wall-clock ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_started_ms: Option<i64>,
    /// The store's generation when written: journal lines up to it are in the file.
    #[serde(default)]
    generation: u64,
    posts: Vec<P>,
}

#[derive(Deserialize)]
pub(super) struct FileEntry {
    #[serde(flatten)]
    pub key: PostKey,
    #[serde(flatten)]
    pub entry: PostEntry,
}

/// `FileEntry` as written: borrowed, so writing the store copies nothing.
#[derive(Serialize)]
pub(super) struct FileEntryRef<'a> {
    #[serde(flatten)]
    pub key: &'a PostKey,
    #[serde(flatten)]
    pub entry: &'a PostEntry,
}

/// The posts of this and previous runs, by box.
#[derive(Debug, Default)]
pub struct PostStore {
    path: Option<PathBuf>,
    entries: BTreeMap<PostKey, Stored>,
    /// When this run started; saved with the posts.
    run_started_ms: Option<i64>,
    /// When the run that last saved the file started: a turn that began since then and has no
    /// post ran (at least partly) while no daemon was watching.
    previous_run_started_ms: Option<i64>,
    /// The newest generation read (file and journal); this run's changes come after it.
    generation: u64,
}

/// An entry, and the bytes it is written as in the file once it has been: kept until the entry
/// changes. The store is written before every create and holds a day of posts; serialized anew
/// each time, it cost most of the daemon's CPU with a few hundred busy sessions (`perf`, load
/// bench).
#[derive(Debug)]
struct Stored {
    entry: PostEntry,
    /// `None` only if serializing failed, which plain strings and integers cannot.
    written: OnceCell<Option<Box<RawValue>>>,
}

impl Stored {
    fn new(entry: PostEntry) -> Stored {
        Stored {
            entry,
            written: OnceCell::new(),
        }
    }
}

impl PostStore {
    /// Loads `<data_dir>/posts.json`, creating the dir if needed. A missing file is an empty
    /// store; an unreadable or corrupt one is logged, set aside as `posts.json.corrupt` and
    /// replaced by an empty store: losing track of old posts is better than not starting.
    pub fn open(data_dir: &Path) -> Result<PostStore, StateError> {
        fs::create_dir_all(data_dir).map_err(|source| StateError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        if !data_dir.is_dir() {
            return Err(StateError::NotADir {
                path: data_dir.to_owned(),
            });
        }
        let path = data_dir.join(POSTS_FILE);
        let ours = crate::guarded::Rules::owned_by(
            nix::unistd::geteuid().as_raw(),
            "the daemon's user",
            MAX_POSTS_BYTES,
        );
        let mut store = PostStore {
            path: Some(path.clone()),
            run_started_ms: Some(crate::clock::now_ms()),
            ..PostStore::default()
        };
        match crate::guarded::read(&path, &ours) {
            Ok(bytes) => match decode(&bytes) {
                Ok(file) => {
                    store.previous_run_started_ms = file.run_started_ms;
                    store.generation = file.generation;
                    for f in file.posts {
                        store.entries.insert(f.key, Stored::new(f.entry));
                    }
                }
                Err(why) => {
                    let aside = path.with_extension("json.corrupt");
                    let kept = fs::rename(&path, &aside).is_ok();
                    tracing::warn!(
                        path = %path.display(),
                        error = %why,
                        kept_as = %if kept { aside.display().to_string() } else { "-".into() },
                        "the posts state file is corrupt; starting without it (posts of boxes \
                         open before this start may be posted again)"
                    );
                }
            },
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                tracing::warn!(
                    "the posts state file is not read ({e}); starting without it (posts of \
                     boxes open before this start may be posted again)"
                );
            }
        }
        store.apply_markers(&path.with_file_name(MARKERS_FILE), &ours);
        Ok(store)
    }

    /// Markers newer than the file: a create was about to leave when the last run stopped.
    fn apply_markers(&mut self, journal: &Path, ours: &crate::guarded::Rules) {
        let bytes = match crate::guarded::read(journal, ours) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return,
            Err(e) => {
                tracing::warn!(path = %journal.display(), error = %e,
                    "the create markers file is not read; a post whose create was cut off by \
                     the last stop may be posted again");
                return;
            }
        };
        for (generation, f) in marker_journal::entries(&bytes, journal) {
            if generation > self.generation {
                self.generation = generation;
                self.put(f.key, f.entry);
            }
        }
    }

    /// A store that is never written (tests, or no data dir).
    pub fn in_memory() -> PostStore {
        PostStore::default()
    }

    /// Turns that began in this window and have no entry ran while no daemon used this store:
    /// from the last run's start (bounded so that entries pruned as finished, kept a day,
    /// cannot pass for missing ones) to this run's start (a later turn was this run's to post
    /// or not). None when no earlier run saved the store.
    pub fn unposted_window_ms(&self, now_ms: i64) -> Option<(i64, i64)> {
        let prune_safe = now_ms - KEEP_FINISHED_MS + PRUNE_MARGIN_MS;
        let since = self.previous_run_started_ms?.max(prune_safe);
        Some((since, self.run_started_ms.unwrap_or(now_ms)))
    }

    /// The file this store is saved to; None for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &PostKey) -> Option<&PostEntry> {
        self.entries.get(key).map(|s| &s.entry)
    }

    pub fn put(&mut self, key: PostKey, mut entry: PostEntry) {
        if entry.finished {
            entry.last_text = None;
        }
        self.entries.insert(key, Stored::new(entry));
    }

    pub fn remove(&mut self, key: &PostKey) -> Option<PostEntry> {
        self.entries.remove(key).map(|s| s.entry)
    }

    /// Every entry of one session, oldest turn first.
    pub fn session_entries<'a>(
        &'a self,
        gateway: &'a str,
        session_key: &'a str,
    ) -> impl Iterator<Item = (&'a PostKey, &'a PostEntry)> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k.gateway == gateway && k.session_key == session_key)
            .map(|(k, s)| (k, &s.entry))
    }

    /// Drops finished entries older than a day and unfinished ones older than a week.
    pub fn prune(&mut self, now_ms: i64) {
        self.entries.retain(|_, Stored { entry: e, .. }| {
            let age = now_ms.saturating_sub(e.updated_ms);
            if e.finished {
                age <= KEEP_FINISHED_MS
            } else {
                age <= KEEP_UNFINISHED_MS
            }
        });
    }

    /// The newest generation read; the writer's first change is the next one.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The file's content for this state, as of store generation `generation`: `FileFormat` as
    /// JSON, each entry taken from `written` when it has not changed since it was last written.
    pub fn to_bytes(&self, generation: u64) -> Vec<u8> {
        let posts: Vec<&RawValue> = self
            .entries
            .iter()
            .filter_map(|(key, s)| {
                s.written
                    .get_or_init(|| {
                        serde_json::value::to_raw_value(&FileEntryRef {
                            key,
                            entry: &s.entry,
                        })
                        .ok()
                    })
                    .as_deref()
            })
            .collect();
        let file = FileFormat {
            version: FORMAT_VERSION,
            run_started_ms: self.run_started_ms,
            generation,
            posts,
        };
        serde_json::to_vec(&file).unwrap_or_default()
    }

    /// Writes the store now (atomically); a no-op for an in-memory store.
    pub fn save(&self) -> Result<(), StateError> {
        match &self.path {
            Some(path) => write_atomic(path, &self.to_bytes(self.generation)).map_err(|source| {
                StateError::Write {
                    path: path.clone(),
                    source,
                }
            }),
            None => Ok(()),
        }
    }
}

fn decode(bytes: &[u8]) -> Result<FileFormat<FileEntry>, String> {
    let file: FileFormat<FileEntry> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.version != FORMAT_VERSION {
        return Err(format!(
            "format version {} (this build reads {FORMAT_VERSION})",
            file.version
        ));
    }
    Ok(file)
}

/// Replaces `path` with `bytes` so that a crash at any point leaves the old or the new content:
/// temp file in the same dir (so the rename cannot cross filesystems), fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".posts-")
        .suffix(".tmp")
        .tempfile_in(dir_of(path))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir_of(path)
}

/// Makes the directory entries of `path`'s directory durable (a file created or renamed in it).
pub(super) fn sync_dir_of(path: &Path) -> io::Result<()> {
    File::open(dir_of(path))?.sync_all()
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(started_ms: i64) -> PostKey {
        PostKey {
            gateway: "/home/alice/.openclaw".into(),
            session_key: "agent:main:main".into(),
            started_ms,
        }
    }

    fn entry(finished: bool, updated_ms: i64) -> PostEntry {
        PostEntry {
            server: "https://chat.example.com".into(),
            channel_id: "ch1".into(),
            root_id: Some("root1".into()),
            post_id: Some("post1".into()),
            creating_since_ms: None,
            last_text: Some("```\nmain\n```".into()),
            finished,
            outcome: None,
            first_line_ms: None,
            follows_ms: None,
            by_plugin: false,
            updated_ms,
        }
    }

    #[test]
    fn saved_entries_come_back_and_no_temp_file_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = PostStore::open(dir.path()).expect("opens");
        assert!(store.is_empty());
        store.put(key(1), entry(false, 10));
        store.put(
            key(2),
            PostEntry {
                post_id: None,
                creating_since_ms: Some(5),
                ..entry(false, 10)
            },
        );
        store.save().expect("saves");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("lists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![POSTS_FILE.to_string()]);

        let again = PostStore::open(dir.path()).expect("reopens");
        assert_eq!(again.len(), 2);
        assert_eq!(again.get(&key(1)), Some(&entry(false, 10)));
        assert_eq!(
            again.get(&key(2)).and_then(|e| e.creating_since_ms),
            Some(5)
        );
    }

    #[test]
    fn a_corrupt_file_starts_an_empty_store_and_is_kept_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(POSTS_FILE), b"{\"version\":1,\"posts\":[{").expect("write");
        let store = PostStore::open(dir.path()).expect("does not fail");
        assert!(store.is_empty());
        assert!(dir.path().join("posts.json.corrupt").exists());

        fs::write(
            dir.path().join(POSTS_FILE),
            b"{\"version\":99,\"posts\":[]}",
        )
        .expect("write");
        assert!(PostStore::open(dir.path()).expect("opens").is_empty());
    }

    #[test]
    fn a_data_dir_that_is_a_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        fs::write(&file, b"").expect("write");
        assert!(PostStore::open(&file).is_err());
    }

    #[test]
    fn finished_entries_lose_their_text_and_are_pruned_after_a_day() {
        let day = 24 * 3600 * 1000;
        let mut store = PostStore::in_memory();
        store.put(key(1), entry(true, 0));
        store.put(key(2), entry(true, day));
        store.put(key(3), entry(false, 0));
        assert_eq!(store.get(&key(1)).and_then(|e| e.last_text.clone()), None);
        store.prune(day + 1);
        assert!(store.get(&key(1)).is_none());
        assert!(store.get(&key(2)).is_some());
        assert!(
            store.get(&key(3)).is_some(),
            "unfinished entries live longer"
        );
        store.prune(8 * day);
        assert!(store.get(&key(3)).is_none());
        store.save().expect("in-memory save is a no-op");
    }

    #[test]
    fn session_entries_select_one_session() {
        let mut store = PostStore::in_memory();
        store.put(key(1), entry(false, 0));
        store.put(
            PostKey {
                session_key: "other".into(),
                ..key(1)
            },
            entry(false, 0),
        );
        let found: Vec<_> = store
            .session_entries("/home/alice/.openclaw", "agent:main:main")
            .collect();
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn what_is_written_follows_every_change_of_an_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = PostStore::open(dir.path()).expect("opens");
        store.put(key(1), entry(false, 1_000));
        store.put(key(2), entry(false, 1_000));
        let first = store.to_bytes(0);
        let mut changed = entry(true, 2_000);
        changed.post_id = Some("post-\"quoted\"".into());
        store.put(key(1), changed.clone());
        store.remove(&key(2));
        store.put(key(3), entry(false, 3_000));
        let bytes = store.to_bytes(0);
        assert_ne!(first, bytes);
        let file: FileFormat<FileEntry> =
            serde_json::from_slice(&bytes).expect("valid JSON of the format");
        let got: Vec<(i64, PostEntry)> = file
            .posts
            .into_iter()
            .map(|f| (f.key.started_ms, f.entry))
            .collect();
        // A finished entry keeps no text (see `put`).
        changed.last_text = None;
        assert_eq!(got, vec![(1, changed), (3, entry(false, 3_000))]);
        store.save().expect("save");
        let again = PostStore::open(dir.path()).expect("reopens");
        assert_eq!(again.len(), 2);
        assert!(again.get(&key(2)).is_none());
    }
}
