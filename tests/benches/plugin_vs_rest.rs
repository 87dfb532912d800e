//! 100 concurrent streaming sessions through the one Mattermost sink, once over the plugin
//! (the real bundle under `plugin/build/livestatus-harness`; `make -C plugin harness` first) and
//! once over REST (the fake Mattermost), printed side by side: HTTP requests per second from the
//! agent, and post edits made before a turn ended. Figures, not a pass/fail: `make bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use livestatus::gateway::accounts::{Account, SingleAccount};
use livestatus::gateway::route::{Route, Target};
use livestatus::service::config::{MattermostMode, Secret};
use livestatus::session::{
    BoxDelta, BoxId, BoxOp, BoxState, Line, LineKind, LineStatus, SessionId,
};
use livestatus::sink::Sink;
use livestatus::sink::mattermost::post_store::PostStore;
use livestatus::sink::mattermost::{PluginOptions, RestOptions, RestSink};
use livestatus_e2e::fake_mattermost::{BOT_TOKEN, FakeMattermost, TOWN_SQUARE_ID};
use livestatus_e2e::plugin_host::PluginHost;

const SESSIONS: usize = 100;
const LINES: usize = 40;
/// Between two lines of one session.
const LINE_GAP: Duration = Duration::from_millis(100);
const SECRET: &str = "bench-plugin-secret";

struct Figures {
    seconds: f64,
    requests: u64,
    posts: usize,
    edits_before_end: usize,
}

fn line(text: String, status: LineStatus) -> Line {
    Line {
        depth: 0,
        kind: LineKind::Tool,
        text,
        status,
    }
}

fn run(plugin: Option<&PluginHost>, mm: &FakeMattermost) -> (Figures, u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = RestOptions {
            max_active_boxes: SESSIONS,
            plugin: PluginOptions {
                mode: if plugin.is_some() {
                    MattermostMode::Plugin
                } else {
                    MattermostMode::Rest
                },
                url: plugin.map(PluginHost::plugin_url),
                secret: Some(Secret::new(SECRET)),
                ..PluginOptions::default()
            },
            ..RestOptions::default()
        };
        let accounts = Arc::new(SingleAccount(Account {
            base_url: mm.base_url(),
            token: Secret::new(BOT_TOKEN),
        }));
        let mut sink = RestSink::start(opts, accounts, PostStore::in_memory());
        let now = livestatus::clock::now_ms();
        let ids: Vec<BoxId> = (0..SESSIONS)
            .map(|n| BoxId {
                session: SessionId::new(
                    "/home/bench/.openclaw".into(),
                    "main".into(),
                    format!("agent:main:mattermost:channel:{TOWN_SQUARE_ID}:bench{n}"),
                ),
                turn: 1,
            })
            .collect();
        let start = Instant::now();
        let opens: Vec<BoxDelta> = ids
            .iter()
            .map(|id| BoxDelta {
                id: id.clone(),
                seq: 1,
                ops: vec![BoxOp::Open {
                    agent_id: "main".into(),
                    session_key: id.session.key.clone(),
                    started_ms: now,
                    route: Some(Route {
                        account_id: "default".into(),
                        target: Target::Channel(TOWN_SQUARE_ID.into()),
                        root_id: None,
                    }),
                    follows_ms: None,
                }],
            })
            .collect();
        sink.deliver(&opens, now);
        let mut seq = 1;
        for i in 0..LINES {
            tokio::time::sleep(LINE_GAP).await;
            seq += 1;
            let deltas: Vec<BoxDelta> = ids
                .iter()
                .map(|id| BoxDelta {
                    id: id.clone(),
                    seq,
                    ops: vec![
                        BoxOp::AddLine(line(format!("exec: step {i}"), LineStatus::None)),
                        BoxOp::SetStatus {
                            index: i as u64,
                            status: LineStatus::Ok,
                        },
                        BoxOp::Tokens(100 * i as u64),
                    ],
                })
                .collect();
            sink.deliver(&deltas, livestatus::clock::now_ms());
        }
        seq += 1;
        let closes: Vec<BoxDelta> = ids
            .iter()
            .map(|id| BoxDelta {
                id: id.clone(),
                seq,
                ops: vec![BoxOp::Close {
                    state: BoxState::Done,
                    ended_ms: livestatus::clock::now_ms(),
                    error: None,
                }],
            })
            .collect();
        sink.deliver(&closes, livestatus::clock::now_ms());
        sink.finish(livestatus::clock::now_ms());
        let report = sink.drain(Duration::from_secs(120)).await;
        let seconds = start.elapsed().as_secs_f64();
        (
            Figures {
                seconds,
                requests: report.requests,
                posts: report.posts_created + report.plugin_posts,
                edits_before_end: 0,
            },
            report.delivered as u64,
        )
    })
}

fn main() {
    // Room for every session (the plugin's default streams 20 at once, the rest go over REST).
    let plugin = PluginHost::start_with(SECRET, &[], &["-max-active-sessions", "1000"]);
    let mm_plugin = FakeMattermost::start();
    let (mut with_plugin, delivered_p) = run(Some(&plugin), &mm_plugin);
    // The plugin writes a post at creation and once at the end; anything else is an edit.
    with_plugin.edits_before_end = plugin
        .writes()
        .iter()
        .filter(|w| w["op"] == "update" && !w["message"].as_str().unwrap_or("").contains("[DONE]"))
        .count();
    let mm_rest = FakeMattermost::start();
    let (mut with_rest, delivered_r) = run(None, &mm_rest);
    with_rest.edits_before_end = mm_rest
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/patch"))
        .filter(|r| {
            !r.body
                .json()
                .and_then(|b| b["message"].as_str())
                .unwrap_or("")
                .contains("[DONE]")
        })
        .count();
    println!(
        "{SESSIONS} sessions streaming {LINES} lines each, one every {} ms (throttle 500 ms)",
        LINE_GAP.as_millis()
    );
    println!("{:<34} {:>12} {:>12}", "", "plugin", "REST");
    let row = |name: &str, p: String, r: String| println!("{name:<34} {p:>12} {r:>12}");
    row(
        "boxes delivered",
        delivered_p.to_string(),
        delivered_r.to_string(),
    );
    row(
        "HTTP requests from the agent",
        with_plugin.requests.to_string(),
        with_rest.requests.to_string(),
    );
    row(
        "requests per second",
        format!("{:.1}", with_plugin.requests as f64 / with_plugin.seconds),
        format!("{:.1}", with_rest.requests as f64 / with_rest.seconds),
    );
    row(
        "posts",
        with_plugin.posts.to_string(),
        with_rest.posts.to_string(),
    );
    row(
        "post edits before turn end",
        with_plugin.edits_before_end.to_string(),
        with_rest.edits_before_end.to_string(),
    );
    row(
        "wall time (s)",
        format!("{:.1}", with_plugin.seconds),
        format!("{:.1}", with_rest.seconds),
    );
}
