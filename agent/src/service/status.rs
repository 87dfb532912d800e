//! The one-line status `systemctl status` shows (`STATUS=`), from a heartbeat's snapshot.

use crate::pipeline::Pulse;

pub fn line(pulse: &Pulse) -> String {
    let mut line = format!(
        "tier {}, {} gateway(s), {} open box(es)",
        pulse.tier.name(),
        pulse.gateways,
        pulse.open_boxes
    );
    match &pulse.sink_status {
        Some(sink) => {
            line.push_str(", ");
            line.push_str(sink);
        }
        None => line.push_str(", no Mattermost account: boxes go to the log"),
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::TierKind;

    #[test]
    fn the_status_line_names_tier_gateways_boxes_and_mattermost() {
        let pulse = Pulse {
            tier: TierKind::Inotify,
            gateways: 2,
            open_boxes: 1,
            sink_status: Some("Mattermost ok (1 server(s) used)".into()),
            sink: None,
        };
        assert_eq!(
            line(&pulse),
            "tier inotify, 2 gateway(s), 1 open box(es), Mattermost ok (1 server(s) used)"
        );
    }
}
