//! The data dir holds what the daemon trusts across restarts (`posts.json`: which post shows
//! which box). Anyone who can write there can make the bot edit any post it ever made, so the
//! daemon refuses to start on a data dir it does not own or that others may write to.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use anyhow::{Context, bail};

/// Creates `dir` (mode 0700) if missing, and checks it: a directory owned by the daemon's
/// effective user, not writable by group or others. The error says what to run to fix it.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| {
            format!(
                "creating the data dir {} (set service.data_dir or --data-dir to a writable place)",
                dir.display()
            )
        })?;
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("checking the data dir {}", dir.display()))?;
    if !meta.is_dir() {
        bail!(
            "the data dir {} is not a directory; set service.data_dir or --data-dir to one",
            dir.display()
        );
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "the data dir {} is owned by uid {}, not by the daemon's user (uid {me}): another \
             user could forge the posts it remembers; fix with `chown {me} {}`",
            dir.display(),
            meta.uid(),
            dir.display()
        );
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        bail!(
            "the data dir {} is writable by {} (mode {mode:o}): another user could forge the \
             posts it remembers; fix with `chmod go-w {}`",
            dir.display(),
            if mode & 0o002 != 0 {
                "others"
            } else {
                "its group"
            },
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_missing_data_dir_is_created_private() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("state/livestatus");
        prepare(&dir).expect("created");
        let mode = std::fs::metadata(&dir).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_data_dir_others_or_the_group_may_write_is_refused_naming_the_fix() {
        let tmp = tempfile::tempdir().expect("tmp");
        for (mode, fix) in [(0o757, "chmod go-w"), (0o770, "chmod go-w")] {
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
            let text = format!("{:#}", prepare(tmp.path()).expect_err("refused"));
            assert!(
                text.contains(&format!("{fix} {}", tmp.path().display())),
                "{text}"
            );
        }
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o750))
            .expect("chmod");
        assert!(prepare(tmp.path()).is_ok());
    }

    #[test]
    fn a_data_dir_of_another_user_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: chown needs root");
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::chown(tmp.path(), Some(65534), None).expect("chown");
        let text = format!("{:#}", prepare(tmp.path()).expect_err("refused"));
        assert!(
            text.contains("owned by uid 65534") && text.contains("chown 0"),
            "{text}"
        );
    }

    #[test]
    fn a_posts_file_that_is_a_symlink_or_a_fifo_is_not_read() {
        use crate::sink::mattermost::post_store::{POSTS_FILE, PostStore};
        let tmp = tempfile::tempdir().expect("tmp");
        let forged = tmp.path().join("forged.json");
        std::fs::write(
            &forged,
            br#"{"version":1,"posts":[{"gateway":"/g","session_key":"k","started_ms":1,"server":"https://m","channel_id":"c","post_id":"p","updated_ms":1}]}"#,
        )
        .expect("forged");
        std::fs::copy(&forged, tmp.path().join(POSTS_FILE)).expect("copy");
        assert_eq!(
            PostStore::open(tmp.path()).expect("opens").len(),
            1,
            "as a plain file it is read"
        );
        std::fs::remove_file(tmp.path().join(POSTS_FILE)).expect("rm");
        std::os::unix::fs::symlink(&forged, tmp.path().join(POSTS_FILE)).expect("symlink");
        assert!(PostStore::open(tmp.path()).expect("starts").is_empty());

        std::fs::remove_file(tmp.path().join(POSTS_FILE)).expect("rm");
        nix::unistd::mkfifo(&tmp.path().join(POSTS_FILE), nix::sys::stat::Mode::S_IRWXU)
            .expect("mkfifo");
        assert!(
            PostStore::open(tmp.path())
                .expect("does not block")
                .is_empty()
        );
    }
}
