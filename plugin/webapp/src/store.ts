// The webapp's session state: a pure reducer (unit-tested) and a tiny store around it that React
// components read with useSyncExternalStore. Sessions arrive from WebSocket events and from the
// plugin's REST API in any order, so the reducer keeps the newest of each box by seq.

import type {Session} from './types';

export interface State {
    // By session key: the session's current (or last) box.
    sessions: Record<string, Session>;
}

export type Action =
    | {type: 'upsert'; session: Session}
    | {type: 'hydrate'; sessions: Session[]}
    | {type: 'removed'; session_key: string; post_id?: string};

export const initialState: State = {sessions: {}};

// newer: whether b should replace a as the session's box. Another post is another turn: the
// later-started one wins; within one box the higher seq wins (an older event or a stale
// hydration arriving late changes nothing).
function newer(a: Session | undefined, b: Session): boolean {
    if (!a) {
        return true;
    }
    if (a.post_id !== b.post_id) {
        return b.started_ms >= a.started_ms;
    }
    return b.seq > a.seq || (b.seq === a.seq && b.updated_ms > a.updated_ms);
}

export function reducer(state: State, action: Action): State {
    switch (action.type) {
    case 'upsert': {
        const cur = state.sessions[action.session.session_key];
        if (!newer(cur, action.session)) {
            return state;
        }
        return {sessions: {...state.sessions, [action.session.session_key]: action.session}};
    }
    case 'hydrate': {
        let next = state;
        for (const s of action.sessions) {
            next = reducer(next, {type: 'upsert', session: s});
        }
        return next;
    }
    case 'removed': {
        const cur = state.sessions[action.session_key];
        if (!cur || (action.post_id && cur.post_id && cur.post_id !== action.post_id)) {
            return state;
        }
        const sessions = {...state.sessions};
        delete sessions[action.session_key];
        return {sessions};
    }
    }
    return state;
}

export function activeSessions(state: State): Session[] {
    return Object.values(state.sessions).
        filter((s) => s.state === 'active').
        sort((a, b) => a.started_ms - b.started_ms || a.session_key.localeCompare(b.session_key));
}

// busiest: the active session with the most lines so far (the one most worth watching), the most
// recently updated on a tie.
export function busiest(state: State): Session | null {
    let best: Session | null = null;
    for (const s of activeSessions(state)) {
        const weight = s.dropped + (s.lines?.length ?? 0);
        const bestWeight = best ? best.dropped + (best.lines?.length ?? 0) : -1;
        if (!best || weight > bestWeight || (weight === bestWeight && s.updated_ms > best.updated_ms)) {
            best = s;
        }
    }
    return best;
}

export function sessionForPost(state: State, postId: string): Session | null {
    for (const s of Object.values(state.sessions)) {
        if (s.post_id === postId) {
            return s;
        }
    }
    return null;
}

export class Store {
    private state: State = initialState;
    private listeners = new Set<() => void>();

    getState = (): State => this.state;

    dispatch = (action: Action): void => {
        const next = reducer(this.state, action);
        if (next !== this.state) {
            this.state = next;
            this.listeners.forEach((l) => l());
        }
    };

    subscribe = (listener: () => void): (() => void) => {
        this.listeners.add(listener);
        return () => {
            this.listeners.delete(listener);
        };
    };
}

export const store = new Store();
