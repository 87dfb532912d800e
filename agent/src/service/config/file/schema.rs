//! The file's shape for serde: one struct per table, `deny_unknown_fields` on each, so an unknown
//! key or a wrong type is refused with the valid keys or the expected type.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) watch: Option<WatchFile>,
    pub(super) session: Option<SessionFile>,
    pub(super) render: Option<RenderFile>,
    pub(super) mattermost: Option<MattermostFile>,
    pub(super) service: Option<ServiceFile>,
    pub(super) api: Option<ApiFile>,
    pub(super) uploader: Option<UploaderFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([api])")]
pub(super) struct ApiFile {
    pub(super) listen: Option<String>,
    pub(super) secret: Option<String>,
    pub(super) secret_file: Option<String>,
    pub(super) max_concurrent: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([uploader])")]
pub(super) struct UploaderFile {
    pub(super) url: Option<String>,
    pub(super) interval_minutes: Option<Int>,
    pub(super) token: Option<String>,
    pub(super) token_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([watch])")]
pub(super) struct WatchFile {
    pub(super) tier: Option<String>,
    pub(super) gateways: Option<PathList>,
    pub(super) poll_interval_ms: Option<Int>,
    pub(super) safety_net_interval_ms: Option<Int>,
    pub(super) max_host_cost: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([session])")]
pub(super) struct SessionFile {
    pub(super) idle_timeout_s: Option<Int>,
    pub(super) max_session_duration_s: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([render])")]
pub(super) struct RenderFile {
    pub(super) max_status_lines: Option<Int>,
    pub(super) max_message_chars: Option<Int>,
    pub(super) tool_labels_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([mattermost])")]
pub(super) struct MattermostFile {
    pub(super) url: Option<String>,
    pub(super) token: Option<String>,
    pub(super) token_file: Option<String>,
    pub(super) default_channel: Option<String>,
    pub(super) throttle_ms: Option<Int>,
    pub(super) max_active_sessions: Option<Int>,
    pub(super) mode: Option<String>,
    pub(super) plugin_url: Option<String>,
    pub(super) plugin_secret: Option<String>,
    pub(super) plugin_secret_file: Option<String>,
    pub(super) accounts: Option<BTreeMap<String, AccountFile>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table ([mattermost.accounts.<id>])"
)]
pub(super) struct AccountFile {
    pub(super) url: Option<String>,
    pub(super) token: Option<String>,
    pub(super) token_file: Option<String>,
    pub(super) mode: Option<String>,
    pub(super) plugin_url: Option<String>,
    pub(super) plugin_secret: Option<String>,
    pub(super) plugin_secret_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([service])")]
pub(super) struct ServiceFile {
    pub(super) data_dir: Option<String>,
    pub(super) log_level: Option<String>,
}

/// An integer whose type error reads "expected an integer" rather than "expected i64"; signed,
/// so a negative number reaches the range check and gets the key's range in its message.
pub(super) struct Int(pub(super) i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
        }
        deserializer.deserialize_i64(IntVisitor)
    }
}

/// The gateways array, whose type error shows what an entry looks like.
pub(super) struct PathList(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = PathList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an array of paths, like ["/home/alice/.openclaw"]"#)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PathList, A::Error> {
                let mut paths = Vec::new();
                while let Some(path) = seq.next_element::<String>()? {
                    paths.push(path);
                }
                Ok(PathList(paths))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}
