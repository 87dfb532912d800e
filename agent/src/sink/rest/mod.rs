//! The Mattermost REST sink. (Being written.)
