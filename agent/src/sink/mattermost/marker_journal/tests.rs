use std::fs;

use super::*;
use crate::sink::mattermost::persist::Persister;
use crate::sink::mattermost::post_store::{POSTS_FILE, PostStore};

fn key(started_ms: i64) -> PostKey {
    PostKey {
        gateway: "/home/alice/.openclaw".into(),
        session_key: "agent:main:main".into(),
        started_ms,
    }
}

fn creating(since_ms: i64) -> PostEntry {
    PostEntry {
        server: "https://chat.example.com".into(),
        channel_id: "ch1".into(),
        root_id: None,
        post_id: None,
        creating_since_ms: Some(since_ms),
        last_text: None,
        finished: false,
        outcome: None,
        first_line_ms: Some(since_ms),
        follows_ms: None,
        by_plugin: false,
        updated_ms: since_ms,
    }
}

fn journal_generations(dir: &Path) -> Vec<u64> {
    let path = dir.join(MARKERS_FILE);
    let bytes = fs::read(&path).unwrap_or_default();
    entries(&bytes, &path).into_iter().map(|(g, _)| g).collect()
}

#[tokio::test]
async fn markers_handed_in_during_a_sync_share_the_next_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = MarkerJournal::new(Some(&dir.path().join(POSTS_FILE)));
    let all = (1..=20u64).map(|g| {
        let j = j.clone();
        async move {
            j.append(g, line(g, &key(g as i64), &creating(g as i64)))
                .await
        }
    });
    let results = futures_util::future::join_all(all).await;
    assert!(
        results.iter().all(|ok| *ok),
        "every marker reported on disk"
    );
    let syncs = j.syncs.load(Ordering::Relaxed);
    assert!(
        syncs <= 2,
        "twenty markers took {syncs} syncs: the one in progress and one for the rest"
    );
    assert_eq!(
        journal_generations(dir.path()),
        (1..=20).collect::<Vec<_>>()
    );
}

#[test]
fn a_restart_takes_the_markers_newer_than_the_store_and_only_those() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = PostStore::open(dir.path()).expect("opens");
    let mut posted = creating(10);
    posted.creating_since_ms = None;
    posted.post_id = Some("post1".into());
    store.put(key(1), posted.clone());
    fs::write(dir.path().join(POSTS_FILE), store.to_bytes(5)).expect("store at generation 5");

    let mut journal = line(3, &key(1), &creating(10));
    journal.extend(line(7, &key(2), &creating(20)));
    // Cut by a crash in the middle of an append.
    journal.extend(&line(8, &key(3), &creating(30))[..40]);
    fs::write(dir.path().join(MARKERS_FILE), journal).expect("journal");

    let again = PostStore::open(dir.path()).expect("reopens");
    assert_eq!(
        again.get(&key(1)),
        Some(&posted),
        "a marker the store already covers does not undo the post it led to"
    );
    assert_eq!(
        again.get(&key(2)).and_then(|e| e.creating_since_ms),
        Some(20),
        "a marker newer than the store is part of it"
    );
    assert!(again.get(&key(3)).is_none(), "a torn line is no marker");
    assert_eq!(again.generation(), 7, "the next run goes on after it");
}

#[tokio::test]
async fn a_store_write_leaves_the_journal_only_the_markers_it_does_not_cover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Persister::new(Some(dir.path().join(POSTS_FILE)));
    for g in [2, 3, 5] {
        assert!(
            p.journal
                .append(g, line(g, &key(g as i64), &creating(1)))
                .await
        );
    }
    assert!(p.write(4, PostStore::in_memory().to_bytes(4)).await);
    assert_eq!(journal_generations(dir.path()), vec![5]);
    assert!(p.journal.append(7, line(7, &key(7), &creating(1))).await);
    assert_eq!(
        journal_generations(dir.path()),
        vec![5, 7],
        "appends go on in the file that replaced the old one"
    );
    assert!(p.write(7, PostStore::in_memory().to_bytes(7)).await);
    assert_eq!(
        fs::metadata(dir.path().join(MARKERS_FILE))
            .expect("journal")
            .len(),
        0,
        "everything covered: the journal is empty"
    );
}

#[test]
fn a_line_that_does_not_parse_is_skipped_and_the_next_one_kept() {
    let path = Path::new("/x/posts.creating.jsonl");
    let mut bytes = line(1, &key(1), &creating(1));
    bytes.extend(b"{\"generation\":2,\"gatew\n");
    bytes.extend(line(3, &key(3), &creating(3)));
    let got: Vec<u64> = entries(&bytes, path).into_iter().map(|(g, _)| g).collect();
    assert_eq!(got, vec![1, 3]);
}

#[tokio::test]
async fn a_fifo_or_a_symlink_in_place_of_the_journal_is_not_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join(MARKERS_FILE);
    nix::unistd::mkfifo(&journal, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let store = PostStore::open(dir.path()).expect("opens without hanging on the FIFO");
    assert!(store.is_empty());
    let j = MarkerJournal::new(Some(&dir.path().join(POSTS_FILE)));
    assert!(
        !j.append(1, line(1, &key(1), &creating(1))).await,
        "not appended to a FIFO"
    );

    fs::remove_file(&journal).expect("rm");
    let elsewhere = dir.path().join("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, &journal).expect("symlink");
    let j = MarkerJournal::new(Some(&dir.path().join(POSTS_FILE)));
    assert!(!j.append(1, line(1, &key(1), &creating(1))).await);
    assert!(!elsewhere.exists(), "nothing written through the link");
}
