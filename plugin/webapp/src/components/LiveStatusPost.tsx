import type {Post} from '@mattermost/types/posts';
import React from 'react';

import {fetchSession} from '../api';
import {useLiveState, useNow} from '../hooks';
import {sessionForPost, store} from '../store';
import {parseSession} from '../types';

import {StatusBox} from './StatusBox';

// LiveStatusPost renders a custom_livestatus post. The box comes from the live store (WebSocket
// events) when it has this post's box; else from the snapshot in the post's props (the final box
// once the turn ended); a post whose turn is still running hydrates from GET sessions/{key}
// after a reload. Without any of them it shows the post's plain message.
export function LiveStatusPost({post}: {post: Post}): React.ReactElement {
    const state = useLiveState();
    const live = sessionForPost(state, post.id);
    const snapshot = React.useMemo(() => parseSession(post.props?.livestatus), [post.props?.livestatus]);
    const key = typeof post.props?.session_key === 'string' ? post.props.session_key : '';

    const session = live && (!snapshot || live.seq >= snapshot.seq || snapshot.state === 'active') ? live : snapshot;
    const needsHydration = !live && (!snapshot || snapshot.state === 'active') && key !== '';
    React.useEffect(() => {
        if (!needsHydration) {
            return;
        }
        let cancelled = false;
        fetchSession(key).then((s) => {
            // The key's record may already hold a later turn: only this post's box counts.
            if (!cancelled && s && s.post_id === post.id) {
                store.dispatch({type: 'upsert', session: s});
            }
        });
        return () => {
            cancelled = true;
        };
    }, [needsHydration, key, post.id]);

    const now = useNow(session?.state === 'active');
    if (!session) {
        return <pre className='ls-box' data-testid='livestatus-plain'>{post.message}</pre>;
    }
    return <StatusBox session={session} now={now}/>;
}
