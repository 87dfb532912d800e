// The built webapp bundle in Debian's chromium (headless, no browser download): a test page
// stands in for Mattermost (plugin registry, redux store, theme variables), the plugin's REST
// reads are served here, and the WebSocket events the REAL plugin published under the host
// harness (test/fixtures/events.json) are fed in. Assertions are on the DOM; screenshots of the
// post, the panel and the widget, light and dark, go to docs/plugin/.
import assert from 'node:assert/strict';
import {readFileSync, mkdirSync} from 'node:fs';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {resolve} from 'node:path';
import {after, before, test} from 'node:test';

import {chromium, type Browser, type Page} from 'playwright-core';

interface Recorded {
    event: string;
    channel_id: string;
    payload: {session_key: string; post_id: string; seq: string; session: string};
}

const webapp = process.cwd();
const events = JSON.parse(readFileSync(resolve(webapp, 'test/fixtures/events.json'), 'utf8')) as Recorded[];
const screenshots = resolve(webapp, '../../docs/plugin');
const first = JSON.parse(events[0].payload.session);
const KEY: string = first.session_key;
const POST_ID: string = first.post_id;

// What GET sessions / sessions/{key} answer, as the plugin would at this point of the turn.
let served: Record<string, unknown>[] = [];

const files: Record<string, [string, string]> = {
    '/': ['test/browser/page.html', 'text/html'],
    '/react.js': ['node_modules/react/umd/react.production.min.js', 'text/javascript'],
    '/react-dom.js': ['node_modules/react-dom/umd/react-dom.production.min.js', 'text/javascript'],
    '/main.js': ['dist/main.js', 'text/javascript'],
};

let server: Server;
let base = '';
let browser: Browser;
let page: Page;

before(async () => {
    server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        const api = '/plugins/com.openclaw.livestatus/api/v1/sessions';
        if (url.pathname === api) {
            res.setHeader('Content-Type', 'application/json');
            res.end(JSON.stringify({sessions: served.filter((s) => s.state === 'active')}));
            return;
        }
        if (url.pathname.startsWith(api + '/')) {
            const key = decodeURIComponent(url.pathname.slice(api.length + 1));
            const s = served.find((x) => x.session_key === key);
            res.statusCode = s ? 200 : 404;
            res.setHeader('Content-Type', 'application/json');
            res.end(JSON.stringify(s ?? {error: 'no session'}));
            return;
        }
        const f = files[url.pathname];
        if (!f) {
            res.statusCode = 404;
            res.end();
            return;
        }
        res.setHeader('Content-Type', f[1]);
        res.end(readFileSync(resolve(webapp, f[0])));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
        executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--font-render-hinting=none'],
    });
    const context = await browser.newContext({viewport: {width: 1280, height: 720}, deviceScaleFactor: 1});
    page = await context.newPage();
    page.on('pageerror', (e) => {
        throw e;
    });
    // The box's clock stands 38 s into the turn, so the screenshots are the same on every run;
    // timers still run (the widget's 5 s hide is real time).
    await page.clock.setFixedTime(first.started_ms + 38_000);
    mkdirSync(screenshots, {recursive: true});
});

after(async () => {
    await browser?.close();
    await new Promise((ok) => server?.close(ok));
});

function session(i: number): Record<string, unknown> {
    return JSON.parse(events[i].payload.session);
}

async function emit(ev: Recorded): Promise<void> {
    await page.evaluate(([name, data]) => (window as any).__ls.emit(name, data), [ev.event, ev.payload] as const);
}

// another: the same recorded turn as a second session in another thread, for the count badge.
function another(ev: Recorded): Recorded {
    const s = JSON.parse(ev.payload.session);
    s.session_key = KEY + ':sub';
    s.post_id = 'post0000000000000000000099';
    s.agent_id = 'research';
    s.lines = s.lines.slice(0, 2);
    return {...ev, payload: {...ev.payload, session_key: s.session_key, post_id: s.post_id, session: JSON.stringify(s)}};
}

const lines = (sel: string): Promise<number> => page.locator(`${sel} [data-testid=livestatus-line]`).count();

test('the plugin registers its post type, events, panel, header button, app bar icon and widget', async () => {
    served = [session(2)];
    await page.goto(base + '/');
    const reg = await page.evaluate(() => {
        const ls = (window as any).__ls;
        return {id: ls.id, posts: Object.keys(ls.postComponents), events: Object.keys(ls.handlers).sort(), roots: ls.roots.length};
    });
    assert.equal(reg.id, 'com.openclaw.livestatus');
    assert.deepEqual(reg.posts, []);
    await page.evaluate(() => (window as any).__ls.start());
    const after = await page.evaluate(() => {
        const ls = (window as any).__ls;
        return {posts: Object.keys(ls.postComponents), events: Object.keys(ls.handlers).sort(), roots: ls.roots.length, appBar: ls.appBar};
    });
    assert.deepEqual(after.posts, ['custom_livestatus']);
    assert.deepEqual(after.events, ['custom_com.openclaw.livestatus_session_removed', 'custom_com.openclaw.livestatus_session_update']);
    assert.equal(after.roots, 1);
    assert.match(after.appBar, /\/plugins\/com\.openclaw\.livestatus\/public\/icon\.svg$/);
    await page.evaluate(() => (window as any).__ls.headerAction());
    assert.deepEqual(await page.evaluate(() => (window as any).__ls.dispatched), [{type: 'TOGGLE_RHS_PLUGIN'}]);
});

test('after a reload the post and the panel hydrate from the plugin, then follow events live', async () => {
    // The post as the server created it: its props hold the box at creation (seq 1).
    await page.evaluate(([id, key, snap]) => (window as any).__ls.mountPost({
        id, type: 'custom_livestatus', message: '```\n[ACTIVE] main | 0s\n```', props: {session_key: key, livestatus: snap},
    }), [POST_ID, KEY, events[0].payload.session] as const);
    await page.waitForFunction(() => document.querySelectorAll('#post [data-testid=livestatus-line]').length === 3);
    assert.equal(await page.locator('#rhs .ls-card').count(), 1);

    for (const ev of events.slice(3, 5)) {
        await emit(ev);
    }
    assert.equal(await lines('#post'), 7);
    assert.equal(await page.locator('#post [data-testid=livestatus-header]').innerText(), '[ACTIVE] main | 38s');
    const text = await page.locator('#post').innerText();
    assert.match(text, /exec: ls \/agents\/sessions \[OK\]/);
    assert.match(text, /exec: grep -r live-status \[ERR\]/);
    assert.match(text, /12\.4k tokens/);
});

test('a sub-agent folds and unfolds', async () => {
    const sub = page.locator('#post .ls-sub');
    await sub.click();
    assert.equal(await lines('#post'), 5);
    assert.doesNotMatch(await page.locator('#post').innerText(), /Reading protocol/);
    await sub.click();
    assert.equal(await lines('#post'), 7);
});

test('the widget shows the busiest session, its last 5 lines and the active count', async () => {
    const widget = page.locator('[data-testid=livestatus-widget]');
    await widget.waitFor();
    assert.equal(await page.locator('[data-testid=livestatus-widget-count]').innerText(), '1');
    assert.equal(await lines('[data-testid=livestatus-widget]'), 5);
    for (const ev of events.slice(0, 2)) {
        await emit(another(ev));
    }
    assert.equal(await page.locator('[data-testid=livestatus-widget-count]').innerText(), '2');
    assert.match(await widget.innerText(), /Live Status · main/);
    assert.equal(await page.locator('#rhs .ls-card').count(), 2);

    // Folding a sub-agent in the widget is not a click on the box.
    const sub = page.locator('[data-testid=livestatus-widget-body] .ls-sub');
    await sub.click();
    assert.equal(await page.evaluate(() => (window as any).__ls.navigated), undefined);
    await sub.click();

    await page.locator('[data-testid=livestatus-widget-body] [data-testid=livestatus-header]').click();
    assert.equal(await page.evaluate(() => (window as any).__ls.navigated), `/_redirect/pl/${POST_ID}`);
});

test('screenshots of the post, the panel and the widget in the light and the dark theme', async () => {
    // The pulsing dot would be caught at a different phase on every run.
    await page.addStyleTag({content: '.ls-dot { animation: none !important; }'});
    for (const theme of ['light', 'dark']) {
        await page.evaluate((t) => (window as any).__ls.setTheme(t), theme);
        await page.locator('#post-wrap').screenshot({path: `${screenshots}/post-${theme}.png`, animations: 'disabled'});
        await page.locator('[data-testid=livestatus-widget]').screenshot({path: `${screenshots}/widget-${theme}.png`, animations: 'disabled'});
        // The widget floats over the panel: out of the way for the panel's picture.
        await page.addStyleTag({content: '.ls-widget { visibility: hidden; }'});
        await page.locator('#rhs').screenshot({path: `${screenshots}/panel-${theme}.png`, animations: 'disabled'});
        await page.evaluate(() => document.querySelectorAll('style:not(#ls-styles)').forEach((el) => {
            if (el.textContent?.includes('visibility: hidden')) {
                el.remove();
            }
        }));
    }
    await page.evaluate(() => (window as any).__ls.setTheme('light'));
});

test('the widget is dragged and folded, and remembers both', async () => {
    const handle = page.locator('[data-testid=livestatus-widget-handle]');
    const box = await handle.boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + 40, box.y + 10);
    await page.mouse.down();
    await page.mouse.move(box.x - 260, box.y - 190, {steps: 5});
    await page.mouse.up();
    const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('com.openclaw.livestatus.widget') ?? 'null'));
    // Moved by the mouse's 300 × 200 px (a pixel of rounding either way).
    assert.ok(Math.abs(saved.x - (box.x - 300)) <= 1 && Math.abs(saved.y - (box.y - 200)) <= 1, JSON.stringify({saved, box}));
    const moved = await handle.boundingBox();
    assert.ok(moved && Math.abs(moved.x - saved.x) <= 1 && Math.abs(moved.y - saved.y) <= 1);

    await page.locator('[data-testid=livestatus-widget-collapse]').click();
    assert.equal(await page.locator('[data-testid=livestatus-widget-body]').count(), 0);
    const folded = await page.evaluate(() => JSON.parse(localStorage.getItem('com.openclaw.livestatus.widget') ?? 'null'));
    assert.equal(folded.collapsed, true);
    await page.locator('[data-testid=livestatus-widget-collapse]').click();
});

test('at turn end the post shows the final box and the widget hides 5 s after the last session ends', async () => {
    await emit(events[5]);
    const footer = page.locator('#post [data-testid=livestatus-footer]');
    assert.equal(await footer.innerText(), '[DONE] 53s | 12.4k tokens');
    assert.equal(await page.locator('#post [data-testid=livestatus-header]').innerText(), 'main');
    assert.equal(await page.locator('#rhs .ls-card').count(), 1);

    const close = another(events[5]);
    await emit(close);
    const ended = Date.now();
    const widget = page.locator('[data-testid=livestatus-widget]');
    assert.equal(await widget.count(), 1, 'still shown right after the last session ended');
    await widget.waitFor({state: 'detached', timeout: 10_000});
    const waited = Date.now() - ended;
    assert.ok(waited >= 4_000 && waited < 9_000, `hid after ${waited} ms`);
    assert.match(await page.locator('#rhs').innerText(), /No agent is working/);
});
