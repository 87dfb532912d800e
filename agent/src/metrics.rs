//! Every Prometheus metric of the daemon, defined here once and bumped where its event happens
//! (docs/api.md lists them). A leaf every stage may call: counting is an atomic add, never a
//! wait, so it cannot slow the stage that counts. `GET /metrics` (the `api` stage) encodes them.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TierKindLabels {
    pub tier: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TierLabels {
    pub tier: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GatewayLabels {
    pub gateway: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub server: String,
    pub method: String,
    /// The HTTP status, or `error` when no answer came (timeout, connection refused).
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub endpoint: &'static str,
    pub code: u16,
}

pub struct Metrics {
    registry: Registry,
    pub events: Family<TierKindLabels, Counter>,
    pub kernel_drops: Family<TierLabels, Counter>,
    pub rescans: Counter,
    pub lines_parsed: Counter,
    pub parse_errors: Counter,
    pub boxes_opened: Counter,
    pub boxes_closed: Family<ResultLabels, Counter>,
    pub open_boxes: Family<GatewayLabels, Gauge>,
    pub mm_requests: Family<RequestLabels, Counter>,
    /// 0 closed, 1 half-open, 2 open.
    pub breaker_state: Family<ServerLabels, Gauge>,
    pub uploads: Family<ResultLabels, Counter>,
    pub upload_last_success: Gauge<f64, AtomicU64>,
    pub api_requests: Family<ApiLabels, Counter>,
    /// From the event loop taking the file event behind a change to the request carrying it.
    pub delivery_latency: Histogram,
}

/// The process's own CPU time and resident memory, read from /proc/self at each scrape.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some((cpu_seconds, rss_bytes)) = process_usage() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent by the daemon, in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let rss = ConstGauge::new(rss_bytes);
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory_bytes",
            "Resident memory of the daemon, in bytes",
            None,
            rss.metric_type(),
        )?)?;
        Ok(())
    }
}

/// (CPU seconds, RSS bytes) from /proc/self/stat; None off Linux or when /proc is missing.
fn process_usage() -> Option<(f64, i64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime are fields 14 and 15 of stat(5), rss is 24; `rest` starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let rss_pages: i64 = fields.get(21)?.parse().ok()?;
    // SAFETY: sysconf only reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if ticks <= 0 || page <= 0 {
        return None;
    }
    Some(((utime + stime) / ticks as f64, rss_pages * page as i64))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            events: Family::default(),
            kernel_drops: Family::default(),
            rescans: Counter::default(),
            lines_parsed: Counter::default(),
            parse_errors: Counter::default(),
            boxes_opened: Counter::default(),
            boxes_closed: Family::default(),
            open_boxes: Family::default(),
            mm_requests: Family::default(),
            breaker_state: Family::default(),
            uploads: Family::default(),
            upload_last_success: Gauge::default(),
            api_requests: Family::default(),
            // 0.5 ms to ~16 s.
            delivery_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
        };
        registry.register(
            "livestatus_delivery_latency_seconds",
            "From the event loop taking a file event to the Mattermost request (REST create or \
             patch, plugin batch) carrying the change it made leaving",
            m.delivery_latency.clone(),
        );
        registry.register(
            "livestatus_events",
            "File events taken from the watch tier, by tier and kind",
            m.events.clone(),
        );
        registry.register(
            "livestatus_kernel_drops",
            "Times the kernel's event queue overflowed (each triggers a rescan), by tier",
            m.kernel_drops.clone(),
        );
        registry.register(
            "livestatus_rescans",
            "Full rescans of the gateways (after an overflow or a lost watch)",
            m.rescans.clone(),
        );
        registry.register(
            "livestatus_transcript_lines",
            "Transcript lines parsed",
            m.lines_parsed.clone(),
        );
        registry.register(
            "livestatus_transcript_parse_errors",
            "Transcript lines skipped because they did not parse",
            m.parse_errors.clone(),
        );
        registry.register(
            "livestatus_boxes_opened",
            "Status boxes opened (one per turn)",
            m.boxes_opened.clone(),
        );
        registry.register(
            "livestatus_boxes_closed",
            "Status boxes closed, by result: done, error, interrupted, retracted",
            m.boxes_closed.clone(),
        );
        registry.register(
            "livestatus_open_boxes",
            "Status boxes open now, by gateway",
            m.open_boxes.clone(),
        );
        registry.register(
            "livestatus_mattermost_requests",
            "Requests to Mattermost, by server, method and HTTP status (error: no answer)",
            m.mm_requests.clone(),
        );
        registry.register(
            "livestatus_mattermost_breaker_state",
            "Circuit breaker per Mattermost server: 0 closed, 1 half-open, 2 open",
            m.breaker_state.clone(),
        );
        registry.register(
            "livestatus_uploads",
            "Status uploads, by result: ok, refused, failed",
            m.uploads.clone(),
        );
        registry.register(
            "livestatus_upload_last_success_timestamp_seconds",
            "Unix time of the last accepted status upload (0: none yet)",
            m.upload_last_success.clone(),
        );
        registry.register(
            "livestatus_api_requests",
            "Requests to the local API, by endpoint and status code",
            m.api_requests.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        Metrics { registry, ..m }
    }

    /// The text exposition (OpenMetrics, which Prometheus reads as its text format).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The daemon's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The label value of a box's result.
pub fn result_name(state: crate::session::BoxState) -> &'static str {
    use crate::session::BoxState;
    match state {
        BoxState::Active => "active",
        BoxState::Done => "done",
        BoxState::Error => "error",
        BoxState::Interrupted => "interrupted",
    }
}

/// One request to Mattermost left and was answered with `status` (None: no answer).
pub fn count_mattermost_request(server: &str, method: &str, status: Option<u16>) {
    get()
        .mm_requests
        .get_or_create(&RequestLabels {
            server: server.to_owned(),
            method: method.to_owned(),
            status: status.map_or_else(|| "error".to_owned(), |s| s.to_string()),
        })
        .inc();
}

/// A request carrying a box's changes left; the oldest of them was taken in at `since_ms` (wall
/// clock ms).
pub fn observe_delivery(since_ms: i64, now_ms: i64) {
    let seconds = (now_ms - since_ms).max(0) as f64 / 1000.0;
    get().delivery_latency.observe(seconds);
}

/// The kernel's queue of `tier` overflowed (events were lost; a rescan follows).
pub fn count_kernel_drop(tier: &'static str) {
    get().kernel_drops.get_or_create(&TierLabels { tier }).inc();
}

/// A transcript line was read; `parsed` false when it was skipped as unreadable.
pub fn count_transcript_line(parsed: bool) {
    let m = get();
    m.lines_parsed.inc();
    if !parsed {
        m.parse_errors.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_and_reads_the_process_from_proc() {
        count_kernel_drop("inotify");
        count_transcript_line(false);
        count_mattermost_request("https://chat.test", "POST", None);
        let text = get().encode();
        for name in [
            "livestatus_kernel_drops_total{tier=\"inotify\"}",
            "livestatus_transcript_parse_errors_total",
            "livestatus_mattermost_requests_total{server=\"https://chat.test\",method=\"POST\",status=\"error\"}",
            "# TYPE livestatus_boxes_closed counter",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        let (cpu, rss) = process_usage().expect("/proc/self/stat reads");
        assert!(cpu >= 0.0 && rss > 0, "{cpu} {rss}");
    }
}
