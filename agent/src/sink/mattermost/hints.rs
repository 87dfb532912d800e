//! What an operator should do about a 4xx answer. Each is logged once, so the line must say
//! enough to fix the cause without reading the source.

/// Which kind of request got the answer (a 404 means different things).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Call {
    /// Finding the bot's DM channel (`users/me`, `channels/direct`).
    Resolve,
    /// Creating the post, or searching the channel for one a previous run made.
    Create,
    Patch,
    Delete,
}

impl Call {
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Resolve => "resolve direct channel",
            Call::Create => "create post",
            Call::Patch => "update post",
            Call::Delete => "delete post",
        }
    }
}

pub(super) fn hint(call: Call, status: u16, error_id: &str) -> &'static str {
    if error_id.contains("message_length") || status == 413 {
        return "the box text is longer than the server accepts: lower render.max_message_chars \
                (MAX_MESSAGE_CHARS) to at most the server's MaxPostSize";
    }
    match (status, call) {
        (401, _) => {
            "the bot token is wrong or revoked: check mattermost.token / token_file (MM_TOKEN) \
             and that the bot account is active"
        }
        (403, Call::Patch | Call::Delete) => {
            "the bot may not edit this post any more (was it removed from the channel?): add \
             the bot back to the channel"
        }
        (403, _) => {
            "the bot is not a member of the channel (or lacks create_post): add the bot to the \
             channel and its team"
        }
        (404, Call::Patch | Call::Delete) => {
            "the post is gone (deleted by someone, or its channel was): this box is no longer \
             updated"
        }
        (404, _) => {
            "the channel, thread root or user does not exist or the bot cannot see it: check \
             the session's route or mattermost.default_channel"
        }
        (400, _) => "the server refused the request as invalid: see its message",
        _ => "the server refused the request: see its message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_common_refusal_has_its_own_advice() {
        assert!(hint(Call::Create, 401, "api.context.session_expired.app_error").contains("token"));
        assert!(
            hint(Call::Create, 403, "api.context.permissions.app_error").contains("add the bot")
        );
        assert!(hint(Call::Patch, 404, "app.post.get.app_error").contains("gone"));
        assert!(
            hint(
                Call::Create,
                400,
                "model.post.is_valid.message_length.app_error"
            )
            .contains("max_message_chars")
        );
    }
}
