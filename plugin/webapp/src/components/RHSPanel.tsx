import React from 'react';

import {fetchSessions} from '../api';
import {useLiveState, useNow} from '../hooks';
import {jumpToPost} from '../navigation';
import {activeSessions, store} from '../store';

import {StatusBox} from './StatusBox';

export async function hydrate(): Promise<void> {
    try {
        store.dispatch({type: 'hydrate', sessions: await fetchSessions()});
    } catch {
        // Offline or the plugin restarting: events and the next reconnect fill the panel.
    }
}

// RHSPanel lists the active sessions the user may see; a click jumps to the box's post.
export function RHSPanel(): React.ReactElement {
    const state = useLiveState();
    const active = activeSessions(state);
    const now = useNow(active.length > 0);
    React.useEffect(() => {
        hydrate();
    }, []);
    return (
        <div className='ls-panel' data-testid='livestatus-panel'>
            <h4>{active.length === 0 ? 'Live Status' : `Live Status · ${active.length} active`}</h4>
            {active.length === 0 && <div className='ls-empty'>{'No agent is working in your channels right now.'}</div>}
            {active.map((s) => (
                <div
                    key={s.session_key}
                    className='ls-card'
                    title={s.session_key}
                    onClick={() => jumpToPost(s.post_id)}
                >
                    <StatusBox session={s} now={now} maxLines={8} compact={true}/>
                </div>
            ))}
        </div>
    );
}
