//! The users, teams and channels a fake server starts with.

/// Ids of the world the fixtures were recorded against (`fixtures/README.md`, "Fake Mattermost
/// world"); reusing them lets a test feed recorded routing straight into the fake.
pub const TEAM_ID: &str = "tm8x3ke5cbgqjmd7f1r4w2yhno";
pub const BOT_USER_ID: &str = "bt9f4k2m7xq1w8e5r3t6y0uiop";
pub const ALICE_USER_ID: &str = "us3a7lice0000000000000000a";
pub const TOWN_SQUARE_ID: &str = "ch4town5quare00000000000ab";
pub const DM_CHANNEL_ID: &str = "ch7dm0alice0bot00000000000";
pub const BOT_TOKEN: &str = "fake-mm-bot-token-not-secret";

/// `model.PostMessageMaxRunesV2` (65535 bytes / 4): what a stock Postgres-backed server enforces.
pub const DEFAULT_MAX_POST_RUNES: usize = 16383;

/// The fixtures' server kept `update_at` fixed; OpenClaw's health check reconnects when it moves.
pub const WORLD_CREATED_AT: i64 = 1_763_780_000_000;

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub nickname: String,
    pub email: String,
    pub is_bot: bool,
    /// Space-separated system roles; every ordinary account, bots included, is `system_user`.
    pub roles: String,
    pub create_at: i64,
    pub update_at: i64,
}

impl User {
    pub fn human(id: &str, username: &str) -> User {
        User {
            id: id.to_owned(),
            username: username.to_owned(),
            first_name: String::new(),
            last_name: String::new(),
            nickname: String::new(),
            email: format!("{username}@example.invalid"),
            is_bot: false,
            roles: "system_user".to_owned(),
            create_at: WORLD_CREATED_AT,
            update_at: WORLD_CREATED_AT,
        }
    }

    pub fn bot(id: &str, username: &str) -> User {
        User {
            is_bot: true,
            ..User::human(id, username)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub display_name: String,
    /// `O` (open) or `I` (invite only).
    pub type_: String,
    /// Team membership is what lets a non-member read a public channel (`read_public_channel`
    /// belongs to `team_user`), but never post in it.
    pub members: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Channel {
    pub id: String,
    /// `""` for direct and group channels, as Mattermost stores them.
    pub team_id: String,
    /// `O` public, `P` private, `D` direct, `G` group.
    pub type_: String,
    pub name: String,
    pub display_name: String,
    pub header: String,
    pub purpose: String,
    pub creator_id: String,
    pub create_at: i64,
    /// Channel members hold `channel_user`: create, edit and delete their own posts.
    pub members: Vec<String>,
}

impl Channel {
    pub fn open(
        id: &str,
        team_id: &str,
        name: &str,
        display_name: &str,
        members: &[&str],
    ) -> Channel {
        Channel {
            id: id.to_owned(),
            team_id: team_id.to_owned(),
            type_: "O".to_owned(),
            name: name.to_owned(),
            display_name: display_name.to_owned(),
            header: String::new(),
            purpose: String::new(),
            creator_id: String::new(),
            create_at: WORLD_CREATED_AT,
            members: members.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    pub fn private(
        id: &str,
        team_id: &str,
        name: &str,
        display_name: &str,
        members: &[&str],
    ) -> Channel {
        Channel {
            type_: "P".to_owned(),
            ..Channel::open(id, team_id, name, display_name, members)
        }
    }

    /// A direct channel between two users, named the way Mattermost names it.
    pub fn direct(id: &str, user_a: &str, user_b: &str) -> Channel {
        let mut members = vec![user_a.to_owned()];
        if user_b != user_a {
            members.push(user_b.to_owned());
        }
        Channel {
            id: id.to_owned(),
            team_id: String::new(),
            type_: "D".to_owned(),
            name: dm_name(user_a, user_b),
            display_name: String::new(),
            header: String::new(),
            purpose: String::new(),
            creator_id: String::new(),
            create_at: WORLD_CREATED_AT,
            members,
        }
    }
}

/// `model.GetDMNameFromIds`: the smaller id first, so either side finds the same channel.
pub fn dm_name(user_a: &str, user_b: &str) -> String {
    if user_a > user_b {
        format!("{user_b}__{user_a}")
    } else {
        format!("{user_a}__{user_b}")
    }
}

#[derive(Clone, Debug)]
pub struct World {
    pub bot_token: String,
    pub bot_user_id: String,
    /// More `(token, user id)` sessions, for tests that act as someone other than the bot.
    pub extra_tokens: Vec<(String, String)>,
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub channels: Vec<Channel>,
    /// The server's `MaxPostSize`, in runes (Unicode scalar values), not bytes.
    pub max_post_runes: usize,
}

impl Default for World {
    fn default() -> World {
        let bot = User {
            first_name: "OpenClaw".to_owned(),
            ..User::bot(BOT_USER_ID, "openclaw")
        };
        let alice = User {
            first_name: "Alice".to_owned(),
            last_name: "Doe".to_owned(),
            ..User::human(ALICE_USER_ID, "alice")
        };
        let town_square = Channel {
            creator_id: ALICE_USER_ID.to_owned(),
            ..Channel::open(
                TOWN_SQUARE_ID,
                TEAM_ID,
                "town-square",
                "Town Square",
                &[BOT_USER_ID, ALICE_USER_ID],
            )
        };
        let dm = Channel {
            creator_id: ALICE_USER_ID.to_owned(),
            ..Channel::direct(DM_CHANNEL_ID, ALICE_USER_ID, BOT_USER_ID)
        };
        World {
            bot_token: BOT_TOKEN.to_owned(),
            bot_user_id: BOT_USER_ID.to_owned(),
            extra_tokens: Vec::new(),
            users: vec![bot, alice],
            teams: vec![Team {
                id: TEAM_ID.to_owned(),
                name: "acme".to_owned(),
                display_name: "Acme".to_owned(),
                type_: "O".to_owned(),
                members: vec![BOT_USER_ID.to_owned(), ALICE_USER_ID.to_owned()],
            }],
            channels: vec![town_square, dm],
            max_post_runes: DEFAULT_MAX_POST_RUNES,
        }
    }
}

impl World {
    pub(crate) fn user_for_token(&self, token: &str) -> Option<&str> {
        if token == self.bot_token {
            return Some(&self.bot_user_id);
        }
        self.extra_tokens
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, user)| user.as_str())
    }

    pub(crate) fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.id == id)
    }
}
