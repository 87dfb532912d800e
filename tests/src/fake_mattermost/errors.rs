//! `model.AppError` as a client sees it.
//!
//! The real server translates the id into `message` (server/i18n/en.json) and, unless
//! `EnableDeveloper` is on, wipes `detailed_error` before answering (`handleContextError`), so
//! the body is `{"id","message","detailed_error":"","request_id","status_code"}` with the same
//! request id as the `X-Request-Id` header. Clients must key on `id`; messages are English.

use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub(crate) struct AppErr {
    pub status: u16,
    pub id: &'static str,
    pub message: String,
}

impl AppErr {
    pub fn new(status: u16, id: &'static str) -> AppErr {
        AppErr {
            status,
            id,
            message: translate(id, ""),
        }
    }

    /// An error whose en.json text has a `{{.Name}}` placeholder.
    pub fn named(status: u16, id: &'static str, name: &str) -> AppErr {
        AppErr {
            status,
            id,
            message: translate(id, name),
        }
    }

    /// `c.SetPermissionError`: every missing permission looks the same to a client.
    pub fn permission() -> AppErr {
        AppErr::new(403, "api.context.permissions.app_error")
    }

    /// `c.SetInvalidParam` / `SetInvalidParamWithErr`: bad JSON bodies and bad query values.
    pub fn invalid_body_param(name: &str) -> AppErr {
        AppErr::named(400, "api.context.invalid_body_param.app_error", name)
    }

    /// `c.SetInvalidURLParam`, raised by `RequirePostId` & co. for ids that are not 26 chars.
    pub fn invalid_url_param(name: &str) -> AppErr {
        AppErr::named(400, "api.context.invalid_url_param.app_error", name)
    }

    pub fn session_expired() -> AppErr {
        AppErr::new(401, "api.context.session_expired.app_error")
    }

    pub fn not_found() -> AppErr {
        AppErr::new(404, "api.context.404.app_error")
    }

    pub fn body(&self, request_id: &str) -> Value {
        json!({
            "id": self.id,
            "message": self.message,
            "detailed_error": "",
            "request_id": request_id,
            "status_code": self.status,
        })
    }
}

fn translate(id: &str, name: &str) -> String {
    let text = match id {
        "api.context.404.app_error" => "Sorry, we could not find the page.",
        "api.context.session_expired.app_error" => {
            "Invalid or expired session, please login again."
        }
        "api.context.token_provided.app_error" => {
            "Session is not OAuth but token was provided in the query string."
        }
        "api.context.permissions.app_error" => "You do not have the appropriate permissions.",
        "api.context.invalid_body_param.app_error" => {
            "Invalid or missing {{.Name}} in request body."
        }
        "api.context.invalid_param.app_error" => "Invalid {{.Name}} parameter.",
        "api.context.invalid_url_param.app_error" => {
            "Invalid or missing {{.Name}} parameter in request URL."
        }
        "api.context.server_busy.app_error" => {
            "Server is busy, non-critical services are temporarily unavailable."
        }
        "api.post.create_post.root_id.app_error" => "Invalid RootId parameter.",
        "api.post.create_post.channel_root_id.app_error" => {
            "Invalid ChannelId for RootId parameter."
        }
        "model.post.is_valid.message_length.app_error" => {
            "Post Message property is longer than the maximum permitted length."
        }
        "model.post.is_valid.type.app_error" => "Invalid type.",
        "model.post.is_valid.props.app_error" => "Invalid props.",
        "model.post.is_valid.file_ids.app_error" => {
            "Invalid file ids. Note that uploads are limited to 10 files maximum. Please use additional posts for more files."
        }
        "app.post.save.existing.app_error" => "You cannot update an existing Post.",
        "app.post.get.app_error" => "Unable to get the post.",
        "app.channel.get.existing.app_error" => "Unable to find the existing channel.",
        "app.user.missing_account.const" => "Unable to find the user.",
        "api.channel.create_direct_channel.invalid_user.app_error" => {
            "Invalid user ID for direct channel creation."
        }
        "api.config.client.old_format.app_error" => {
            "New format for the client configuration is not supported yet. Please specify format=old in the query string."
        }
        "api.payload.parse.error" => "Error parsing the payload.",
        _ => "Failure injected by the fake Mattermost server.",
    };
    text.replace("{{.Name}}", name)
}
