// Reads from the plugin's server. Mattermost authenticates the request by its session cookie and
// the plugin answers only sessions of channels the user is a member of.

import {parseSession, type Session} from './types';

export const PLUGIN_ID = 'com.openclaw.livestatus';

function base(): string {
    const w = window as unknown as {basename?: string};
    return `${w.basename ?? ''}/plugins/${PLUGIN_ID}/api/v1`;
}

async function get(path: string): Promise<unknown> {
    const res = await fetch(base() + path, {credentials: 'include', headers: {'X-Requested-With': 'XMLHttpRequest'}});
    if (!res.ok) {
        throw new Error(`GET ${path}: ${res.status}`);
    }
    return res.json();
}

export async function fetchSessions(): Promise<Session[]> {
    const body = (await get('/sessions')) as {sessions?: unknown[]};
    return (body.sessions ?? []).map(parseSession).filter((s): s is Session => s !== null);
}

// fetchSession returns null when the session is gone or not visible (404).
export async function fetchSession(key: string): Promise<Session | null> {
    try {
        return parseSession(await get('/sessions/' + encodeURIComponent(key)));
    } catch {
        return null;
    }
}
