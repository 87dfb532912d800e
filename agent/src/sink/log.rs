//! The daemon's sink when nothing else is configured and nobody watches a terminal: each box
//! goes to the log once when it opens and once, in full, when it ends.

use std::collections::HashMap;

use crate::render::{RenderOptions, render_text};
use crate::session::{BoxDelta, BoxId, BoxModel};

use super::{Sink, box_title};

/// The Mattermost account a box's session is bound to (`MM_ACCOUNT` in the journal), if any.
fn account(model: &BoxModel) -> &str {
    model.route.as_ref().map_or("", |r| r.account_id.as_str())
}

pub struct LogSink {
    boxes: HashMap<BoxId, BoxModel>,
    render: RenderOptions,
}

impl LogSink {
    pub fn new(render: RenderOptions) -> LogSink {
        LogSink {
            boxes: HashMap::new(),
            render,
        }
    }
}

impl Sink for LogSink {
    fn deliver(&mut self, deltas: &[BoxDelta], now_ms: i64) {
        for delta in deltas {
            if delta.is_restored_history() {
                continue;
            }
            let title = box_title(&delta.id);
            let model = match self.boxes.get_mut(&delta.id) {
                Some(model) => {
                    if let Err(err) = model.apply(delta) {
                        tracing::warn!(error = %err, "box delta out of order");
                        continue;
                    }
                    model
                }
                None => match BoxModel::open(delta) {
                    Ok(model) => {
                        tracing::info!(gateway = %model.id.session.gateway.display(), agent_id = %model.agent_id, session_key = %model.session_key, mm_account = account(&model), "turn started: {title}");
                        self.boxes.entry(delta.id.clone()).or_insert(model)
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "box delta without its opening");
                        continue;
                    }
                },
            };
            if model.is_finished() {
                if !model.retracted {
                    let text = render_text(model, now_ms, &self.render);
                    tracing::info!(gateway = %model.id.session.gateway.display(), agent_id = %model.agent_id, session_key = %model.session_key, mm_account = account(model), "turn ended: {title}\n{text}");
                }
                self.boxes.remove(&delta.id);
            }
        }
    }

    fn tick(&mut self, _now_ms: i64) {}

    fn wants_ticks(&self) -> bool {
        false
    }

    fn finish(&mut self, _now_ms: i64) {}

    fn reconfigure(&mut self, render: &RenderOptions) {
        self.render = render.clone();
    }
}
