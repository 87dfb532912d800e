import assert from 'node:assert/strict';
import {test} from 'node:test';

import React from 'react';
import {renderToStaticMarkup} from 'react-dom/server';

import {StatusBox} from '../../src/components/StatusBox';
import type {Session} from '../../src/types';

const running: Session = {
    session_key: 'agent:main:k', channel_id: 'c', post_id: 'p1', agent_id: 'main', seq: 4, state: 'active',
    started_ms: 0, tokens: 0, dropped: 0, updated_ms: 0,
    lines: [
        {depth: 0, kind: 'text', text: 'Reading live-status source code...', status: 'none'},
        {depth: 0, kind: 'tool', text: 'exec: ls /agents/sessions', status: 'ok'},
        {depth: 0, kind: 'tool', text: 'exec: grep -r live-status', status: 'err'},
        {depth: 0, kind: 'sub_agent', text: 'Sub-agent: proj035-planner', status: 'none'},
        {depth: 1, kind: 'text', text: 'Reading protocol...', status: 'none'},
        {depth: 1, kind: 'sub_agent_end', text: '[DONE] 28s', status: 'none'},
        {depth: 0, kind: 'text', text: 'Plan ready. Awaiting approval.', status: 'none'},
    ],
};

function text(html: string): string {
    return html.replace(/<[^>]+>/g, '').replace(/&quot;/g, '"').replace(/&#x27;/g, "'");
}

test('a running box shows [ACTIVE], the time so far and every line with its mark', () => {
    const html = renderToStaticMarkup(<StatusBox session={running} now={38_500}/>);
    const t = text(html);
    assert.match(t, /\[ACTIVE\] main \| 38s/);
    assert.match(t, /exec: ls \/agents\/sessions \[OK\]/);
    assert.match(t, /exec: grep -r live-status \[ERR\]/);
    assert.match(t, /▾Sub-agent: proj035-planner/);
    assert.match(html, /data-state="active"/);
    assert.doesNotMatch(html, /livestatus-footer/);
});

test('the duration counts from the first transcript line once the agent sent it', () => {
    const done = {...running, state: 'done' as const, started_ms: 1_000, first_line_ms: 3_000, ended_ms: 5_500};
    assert.match(text(renderToStaticMarkup(<StatusBox session={done} now={999_999}/>)), /\[DONE\] 2s/);
    const early = {...running, started_ms: 1_000, first_line_ms: 3_000};
    assert.match(text(renderToStaticMarkup(<StatusBox session={early} now={2_000}/>)), /\[ACTIVE\] main \| 0s/);
});

test('a finished box states the outcome once, in the footer, with its tokens', () => {
    const done = {...running, state: 'done' as const, ended_ms: 53_000, tokens: 12_400};
    const t = text(renderToStaticMarkup(<StatusBox session={done} now={999_999}/>));
    assert.doesNotMatch(t, /ACTIVE/);
    assert.match(t, /\[DONE\] 53s \| 12\.4k tokens/);
});

test('an error footer carries the provider message on one line', () => {
    const failed = {...running, state: 'error' as const, ended_ms: 2000, error: 'rate\n limited'};
    assert.match(text(renderToStaticMarkup(<StatusBox session={failed} now={0}/>)), /\[ERROR\] 2s \| rate limited/);
});

test('maxLines keeps the newest lines and counts the rest with the dropped ones', () => {
    const long = {...running, dropped: 10};
    const t = text(renderToStaticMarkup(<StatusBox session={long} now={0} maxLines={2}/>));
    assert.match(t, /… 15 earlier/);
    assert.match(t, /Plan ready/);
    assert.doesNotMatch(t, /Reading protocol/);
});
