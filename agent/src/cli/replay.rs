//! `replay`: the boxes a transcript (or a whole state dir) produces, in the order the turns
//! happened, timed by the transcript's own timestamps so the output is reproducible.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::gateway::registry::read_index;
use crate::gateway::sessions_index::SessionsIndex;
use crate::render::{RenderOptions, render_text};
use crate::session::tracker::{SessionConfig, SessionInput, Tracker};
use crate::session::{BoxDelta, BoxId, BoxModel, SessionId, SessionInfo, SessionRef};
use crate::transcript::sqlite::{AgentStore, Cursor};
use crate::transcript::{JsonlTailer, SessionsDir, TranscriptRecord};

use super::ReplayArgs;
use super::settings;

/// One transcript to replay and the session it belongs to.
struct Source {
    dir: PathBuf,
    name: String,
    session: SessionRef,
}

pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    settings::init_logging("warn");
    let render = RenderOptions {
        max_lines: args.max_lines.unwrap_or(usize::MAX),
        ..RenderOptions::default()
    };
    let cfg = SessionConfig {
        labels: settings::labels(args.tool_labels.as_deref())?,
        ..SessionConfig::default()
    };
    let text = replay_to_string(&args.path, cfg, &render)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Replays `path` and returns its boxes in the order they opened, each as it ended (or as it
/// stood when the transcript ended), retracted ones left out.
pub fn replay_models(path: &Path, cfg: SessionConfig) -> anyhow::Result<Vec<BoxModel>> {
    // The SQLite store first: a session it holds is not read again from JSONL leftovers.
    let mut sessions = store_sessions(path)?;
    let in_store: std::collections::HashSet<(PathBuf, String)> = sessions
        .iter()
        .map(|(s, _)| (s.id.gateway.clone(), s.id.key.clone()))
        .collect();
    for source in sources(path)? {
        if in_store.contains(&(
            source.session.id.gateway.clone(),
            source.session.id.key.clone(),
        )) {
            continue;
        }
        let dir = SessionsDir::open(&source.dir)?;
        let mut tailer = JsonlTailer::open(&dir, &source.name, None)
            .with_context(|| format!("opening {}", source.dir.join(&source.name).display()))?;
        sessions.push((source.session, tailer.read_new()?));
    }
    if sessions.is_empty() {
        bail!(
            "{} holds no OpenClaw transcript (expected a <id>.jsonl file, a sessions dir, a state dir or an openclaw-agent.sqlite)",
            path.display()
        );
    }
    // Every record of every transcript, in time order, so sub-agents interleave with parents.
    let mut timeline: Vec<(i64, usize, usize, TranscriptRecord)> = Vec::new();
    for (i, (_, records)) in sessions.iter_mut().enumerate() {
        let records = std::mem::take(records);
        let mut last = 0;
        for (j, record) in records.into_iter().enumerate() {
            let at = record.event.ts_ms().unwrap_or(last);
            last = at;
            timeline.push((at, i, j, record));
        }
    }
    timeline.sort_by_key(|(at, i, j, _)| (*at, *i, *j));

    let mut tracker = Tracker::new(cfg);
    let mut boxes: BTreeMap<BoxId, BoxModel> = BTreeMap::new();
    let mut order: Vec<BoxId> = Vec::new();
    let mut fold = |deltas: Vec<BoxDelta>| {
        for delta in deltas {
            match boxes.get_mut(&delta.id) {
                Some(model) => {
                    if let Err(err) = model.apply(&delta) {
                        tracing::warn!(error = %err, "replay: box delta out of order");
                    }
                }
                None => {
                    if let Ok(model) = BoxModel::open(&delta) {
                        order.push(delta.id.clone());
                        boxes.insert(delta.id.clone(), model);
                    }
                }
            }
        }
    };
    let mut last_at = 0;
    for (at, i, _, record) in timeline {
        fold(tracker.tick(at));
        fold(tracker.handle(&sessions[i].0, SessionInput::Record(record), at));
        last_at = at;
    }
    // Let deferred closes (a parent waiting for its sub-agent) settle as the daemon would.
    fold(tracker.tick(last_at + 1));
    Ok(order
        .iter()
        .filter_map(|id| boxes.remove(id))
        .filter(|m| !m.retracted)
        .collect())
}

/// Replays `path` and returns what `replay` prints.
pub fn replay_to_string(
    path: &Path,
    cfg: SessionConfig,
    render: &RenderOptions,
) -> anyhow::Result<String> {
    let models = replay_models(path, cfg)?;
    let mut text = String::new();
    for model in &models {
        let at = model.ended_ms.unwrap_or_else(|| model.started_ms.max(0));
        text.push_str(&format!(
            "== {} · turn {} · {} ==\n",
            model.session_key,
            model.id.turn,
            crate::clock::format_iso_seconds(model.started_ms)
        ));
        text.push_str(&render_text(model, at, render));
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if !model.is_finished() {
            text.push_str("(the transcript ends while this turn is still running)\n");
        }
        text.push('\n');
    }
    Ok(text)
}

/// Sessions of the SQLite stores (2026.8+) at or under `path`, with all their records.
fn store_sessions(path: &Path) -> anyhow::Result<Vec<(SessionRef, Vec<TranscriptRecord>)>> {
    let mut dbs: Vec<(PathBuf, String, PathBuf)> = Vec::new();
    if path.is_file()
        && path
            .file_name()
            .is_some_and(|n| n == "openclaw-agent.sqlite")
    {
        if let Some(crate::layout::Place::AgentStoreFile {
            state_dir,
            agent_id,
            ..
        }) = crate::layout::place_of(path)
        {
            dbs.push((state_dir, agent_id, path.to_path_buf()));
        }
    } else if path.is_dir() {
        for agent in crate::layout::agent_ids(path) {
            let db = crate::layout::agent_db_path(path, &agent);
            if db.is_file() {
                dbs.push((path.to_path_buf(), agent, db));
            }
        }
    }
    let mut out = Vec::new();
    for (state_dir, agent_id, db) in dbs {
        let mut store = AgentStore::open_snapshot(&db)
            .with_context(|| format!("opening the session store {}", db.display()))?;
        for s in store.sessions()? {
            let records = store.read_all_after(&s.session_id, Cursor::START)?.records;
            let session = SessionRef::from(SessionInfo {
                id: SessionId::new(state_dir.clone(), agent_id.clone(), s.key),
                spawned_by: s.spawned_by,
                label: s.label,
                route: s.route,
            });
            out.push((session, records));
        }
    }
    Ok(out)
}

/// Transcripts under `path` with their sessions, per the sessions index beside them.
fn sources(path: &Path) -> anyhow::Result<Vec<Source>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if crate::layout::transcript_session_id(&name).is_none() {
            // Not a transcript (a store, or anything else): the store reader had its say.
            return Ok(Vec::new());
        }
        let found = sessions_in(&dir)
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.session)
            .unwrap_or_else(|| standin(&dir, &name));
        // Alone, a sub-agent has no parent box to nest in: show it as its own.
        let session = SessionRef::from(SessionInfo {
            id: found.id.clone(),
            spawned_by: None,
            label: found.label.clone(),
            route: found.route.clone(),
        });
        return Ok(vec![Source { dir, name, session }]);
    }
    if path.join(crate::layout::SESSIONS_INDEX).is_file() || has_transcripts(path) {
        return Ok(sessions_in(path));
    }
    let mut all = Vec::new();
    for agent in crate::layout::agent_ids(path) {
        all.extend(sessions_in(&crate::layout::sessions_dir(path, &agent)));
    }
    Ok(all)
}

fn has_transcripts(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            crate::layout::transcript_session_id(&e.file_name().to_string_lossy()).is_some()
        })
    })
}

/// Every transcript of a sessions dir: those the index names, then any others.
fn sessions_in(dir: &Path) -> Vec<Source> {
    let (state_dir, agent_id) = match crate::layout::place_of(dir) {
        Some(crate::layout::Place::SessionsDir {
            state_dir,
            agent_id,
        }) => (state_dir, agent_id),
        _ => (dir.to_path_buf(), "main".to_owned()),
    };
    let mut index = SessionsIndex::default();
    let index_path = dir.join(crate::layout::SESSIONS_INDEX);
    match read_index(dir, None) {
        Ok(bytes) => {
            index.load(&bytes, &index_path);
        }
        Err(e) if e.is_not_found() => {}
        // Replay goes on with the transcripts alone, under stand-in keys.
        Err(e) => tracing::warn!("sessions index not read: {e}"),
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| crate::layout::transcript_session_id(n).is_some())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let session = index
                .key_for_transcript(&name)
                .and_then(|key| Some((key, index.entry(key)?)))
                .map(|(key, entry)| {
                    SessionRef::from(SessionInfo {
                        id: SessionId::new(state_dir.clone(), agent_id.clone(), key.to_owned()),
                        spawned_by: entry.spawned_by.clone(),
                        label: entry.label.clone(),
                        route: None,
                    })
                })
                .unwrap_or_else(|| standin(dir, &name));
            Source {
                dir: dir.to_path_buf(),
                name,
                session,
            }
        })
        .collect()
}

fn standin(dir: &Path, name: &str) -> SessionRef {
    SessionRef::from(SessionInfo {
        id: SessionId::new(
            dir.to_path_buf(),
            "main".into(),
            format!(
                "transcript:{}",
                crate::layout::transcript_session_id(name).unwrap_or(name)
            ),
        ),
        spawned_by: None,
        label: None,
        route: None,
    })
}
