import assert from 'node:assert/strict';
import {test} from 'node:test';

import {formatElapsed, formatTokens} from '../../src/format';
import {activeSessions, busiest, initialState, reducer, sessionForPost, type State} from '../../src/store';
import {parseSession, type Session} from '../../src/types';

function box(over: Partial<Session>): Session {
    return {
        session_key: 'agent:main:k', channel_id: 'c', post_id: 'p1', agent_id: 'main', seq: 1, state: 'active',
        started_ms: 1000, tokens: 0, dropped: 0, lines: [], updated_ms: 1000, ...over,
    };
}

function apply(...actions: Parameters<typeof reducer>[1][]): State {
    return actions.reduce(reducer, initialState);
}

test('an event with a higher seq replaces the box, a late older one changes nothing', () => {
    const s = apply(
        {type: 'upsert', session: box({seq: 3, lines: [{depth: 0, kind: 'text', text: 'three', status: 'none'}]})},
        {type: 'upsert', session: box({seq: 2})},
    );
    assert.equal(s.sessions['agent:main:k'].seq, 3);
    assert.equal(s.sessions['agent:main:k'].lines?.[0].text, 'three');
});

test('hydration older than the events already seen does not roll the box back', () => {
    const s = apply({type: 'upsert', session: box({seq: 5})}, {type: 'hydrate', sessions: [box({seq: 4}), box({session_key: 'other', seq: 1})]});
    assert.equal(s.sessions['agent:main:k'].seq, 5);
    assert.ok(s.sessions.other);
});

test('a new turn of the same session (another post) replaces the old box even at seq 1', () => {
    const s = apply({type: 'upsert', session: box({seq: 9, state: 'done'})}, {type: 'upsert', session: box({post_id: 'p2', seq: 1, started_ms: 5000})});
    assert.equal(s.sessions['agent:main:k'].post_id, 'p2');
    assert.equal(sessionForPost(s, 'p1'), null);
});

test('removed drops the box only when it is the post named', () => {
    const start = apply({type: 'upsert', session: box({})});
    assert.equal(reducer(start, {type: 'removed', session_key: 'agent:main:k', post_id: 'other'}), start);
    assert.deepEqual(reducer(start, {type: 'removed', session_key: 'agent:main:k', post_id: 'p1'}).sessions, {});
});

test('the active list and the busiest session skip finished boxes', () => {
    const s = apply(
        {type: 'upsert', session: box({session_key: 'a', dropped: 40, state: 'done'})},
        {type: 'upsert', session: box({session_key: 'b', dropped: 2, started_ms: 2000})},
        {type: 'upsert', session: box({session_key: 'c', dropped: 7, started_ms: 1500})},
    );
    assert.deepEqual(activeSessions(s).map((x) => x.session_key), ['c', 'b']);
    assert.equal(busiest(s)?.session_key, 'c');
    assert.equal(busiest(initialState), null);
});

test('parseSession refuses what is not a session', () => {
    assert.equal(parseSession('not json'), null);
    assert.equal(parseSession({session_key: 'k', state: 'exploded', seq: 1, started_ms: 0}), null);
    assert.equal(parseSession(null), null);
    assert.deepEqual(parseSession(JSON.stringify(box({lines: null})))?.lines, []);
});

test('elapsed and tokens print like the agent', () => {
    assert.deepEqual([0, 38_999, 60_000, 245_000, 3_720_000, -5].map(formatElapsed), ['0s', '38s', '1m00s', '4m05s', '1h02m', '0s']);
    assert.deepEqual([980, 1000, 1234, 12_400, 99_949, 99_950, 123_456, 999_500, 1_200_000].map(formatTokens),
        ['980', '1k', '1.2k', '12.4k', '99.9k', '100k', '123k', '1M', '1.2M']);
});
