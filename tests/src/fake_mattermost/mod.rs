//! A fake Mattermost server for tests. (Being written.)
