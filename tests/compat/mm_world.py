"""The fixed Mattermost world of `make compat`, shared by the fake server and the driver.

Two gateways run at once, each with a bot account of its own. A real Mattermost only tells a bot
about posts in channels it is a member of, so each bot gets a team of its own (its town-square)
and its own DM with alice: each gateway then sees, and answers, only the posts meant for it.

  team acme:   bot `openclaw`       (the default gateway, ~/.openclaw)      town-square, DM alice
  team globex: bot `openclaw-work`  (the `--profile work` gateway)         town-square, DM alice
alice, the human who writes every scenario's post, is a member of both teams.

Ids are 26 lowercase letters and digits, as Mattermost makes them; a DM channel's name is the
two user ids sorted, joined by `__`.
"""
FIXED_AT = 1763780000000


def _id(s):
    assert len(s) == 26 and s.isalnum() and s == s.lower(), s
    return s


def user(uid, name, bot):
    return {"id": _id(uid), "username": name, "first_name": name, "last_name": "", "nickname": "",
            "is_bot": bot, "roles": "system_user", "locale": "en", "update_at": FIXED_AT,
            "create_at": FIXED_AT, "delete_at": 0, "email": name + "@example.invalid"}


def team(tid, name, display):
    return {"id": _id(tid), "name": name, "display_name": display, "type": "O",
            "allow_open_invite": False, "create_at": FIXED_AT, "update_at": FIXED_AT, "delete_at": 0}


def channel(cid, ctype, name, display, team_id, creator):
    return {"id": _id(cid), "team_id": team_id, "type": ctype, "name": name, "display_name": display,
            "header": "", "purpose": "", "create_at": FIXED_AT, "update_at": FIXED_AT,
            "delete_at": 0, "creator_id": creator}


def dm_name(a, b):
    return "__".join(sorted((a, b)))


ALICE = user("us3a7lice0000000000000000a", "alice", False)
# The recordings' bot, team and channels (the default gateway's world is theirs, ids included).
BOT = user("bt9f4k2m7xq1w8e5r3t6y0uiop", "openclaw", True)
TEAM = team("tm8x3ke5cbgqjmd7f1r4w2yhno", "acme", "Acme")
TOWN = channel("ch4town5quare00000000000ab", "O", "town-square", "Town Square", TEAM["id"], ALICE["id"])
DM = channel("ch7dm0alice0bot00000000000", "D", dm_name(BOT["id"], ALICE["id"]), "", "", ALICE["id"])
# The profile gateway's: another bot in another team, with a town-square of the same name.
BOT2 = user("bw2k8d3n6vq0z4h7j1c5x9rmta", "openclaw-work", True)
TEAM2 = team("tm5g1obex0work00000000000a", "globex", "Globex")
TOWN2 = channel("ch5work5quare00000000000cd", "O", "town-square", "Town Square", TEAM2["id"], ALICE["id"])
DM2 = channel("ch8dm0alice0bot20000000000", "D", dm_name(BOT2["id"], ALICE["id"]), "", "", ALICE["id"])

USERS = {u["id"]: u for u in (BOT, BOT2, ALICE)}
TEAMS = {t["id"]: t for t in (TEAM, TEAM2)}
CHANNELS = {c["id"]: c for c in (TOWN, DM, TOWN2, DM2)}
TEAM_MEMBERS = {TEAM["id"]: {BOT["id"], ALICE["id"]}, TEAM2["id"]: {BOT2["id"], ALICE["id"]}}
CHANNEL_MEMBERS = {TOWN["id"]: {BOT["id"], ALICE["id"]}, DM["id"]: {BOT["id"], ALICE["id"]},
                   TOWN2["id"]: {BOT2["id"], ALICE["id"]}, DM2["id"]: {BOT2["id"], ALICE["id"]}}
# Personal access tokens (fake ones: the server accepts nothing else).
TOKENS = {"fake-mm-bot-token-not-secret": BOT["id"],
          "fake-mm-work-bot-token-not-secret": BOT2["id"],
          "fake-mm-alice-token-not-secret": ALICE["id"]}


def token_of(user_id):
    return next(t for t, u in TOKENS.items() if u == user_id)
