// The session record as the plugin's server stores, publishes and returns it (server/session.go).

export type BoxState = 'active' | 'done' | 'error' | 'interrupted';
export type LineKind = 'text' | 'tool' | 'sub_agent' | 'sub_agent_end';
export type LineStatus = 'none' | 'ok' | 'err';

export interface Line {
    depth: number;
    kind: LineKind;
    text: string;
    status: LineStatus;
}

export interface Session {
    session_key: string;
    channel_id: string;
    root_id?: string;
    post_id?: string;
    agent_id: string;
    seq: number;
    state: BoxState;
    started_ms: number;
    // Transcript time of the turn's first line: the duration counts from it once it is there.
    first_line_ms?: number;
    ended_ms?: number;
    error?: string;
    tokens: number;
    dropped: number;
    lines: Line[] | null;
    updated_ms: number;
}

const STATES: readonly string[] = ['active', 'done', 'error', 'interrupted'];

// parseSession accepts what the server sends (a JSON string in events and post props, an object
// from the REST API) and returns null for anything that is not a session, so a malformed event
// cannot break rendering.
export function parseSession(raw: unknown): Session | null {
    let v: unknown = raw;
    if (typeof raw === 'string') {
        try {
            v = JSON.parse(raw);
        } catch {
            return null;
        }
    }
    if (typeof v !== 'object' || v === null) {
        return null;
    }
    const s = v as Record<string, unknown>;
    if (typeof s.session_key !== 'string' || typeof s.state !== 'string' || !STATES.includes(s.state) ||
        typeof s.seq !== 'number' || typeof s.started_ms !== 'number') {
        return null;
    }
    return {...(s as unknown as Session), lines: Array.isArray(s.lines) ? (s.lines as Line[]) : []};
}
