import React from 'react';

import {formatElapsed, formatTokens, stateTag} from '../format';
import type {Line, Session} from '../types';

interface Props {
    session: Session;
    now: number;
    // Show at most this many of the newest lines (the widget shows 5); all when unset.
    maxLines?: number;
    compact?: boolean;
}

interface Row {
    line: Line;
    index: number; // the line's index in the agent's numbering
    parent: number | null; // index of the sub-agent heading this line belongs to
}

// rows ties every line to the nearest open sub-agent heading above it, so a heading can fold
// its sub-agent's lines.
function rows(s: Session): Row[] {
    const out: Row[] = [];
    const open: Array<{index: number; depth: number}> = [];
    (s.lines ?? []).forEach((line, i) => {
        const index = s.dropped + i;
        while (open.length > 0 && line.depth <= open[open.length - 1].depth) {
            open.pop();
        }
        out.push({line, index, parent: open.length > 0 ? open[open.length - 1].index : null});
        if (line.kind === 'sub_agent') {
            open.push({index, depth: line.depth});
        }
    });
    return out;
}

function hiddenBy(row: Row, all: Map<number, Row>, collapsed: Set<number>): boolean {
    for (let p = row.parent; p !== null; p = all.get(p)?.parent ?? null) {
        if (collapsed.has(p)) {
            return true;
        }
    }
    return false;
}

function mark(line: Line): React.ReactNode {
    if (line.kind === 'tool' && line.status === 'ok') {
        return <span className='ls-ok'>{' [OK]'}</span>;
    }
    if ((line.kind === 'tool' || line.kind === 'sub_agent') && line.status === 'err') {
        return <span className='ls-err'>{' [ERR]'}</span>;
    }
    return null;
}

// StatusBox draws a box terminal-style: a header with the status dot and running time, the
// lines (sub-agents foldable), and once finished a footer with the outcome.
export function StatusBox({session, now, maxLines, compact}: Props): React.ReactElement {
    const [collapsed, setCollapsed] = React.useState<Set<number>>(() => new Set());
    const body = React.useRef<HTMLDivElement>(null);
    const stick = React.useRef(true);
    const finished = session.state !== 'active';
    const from = session.first_line_ms || session.started_ms;
    const elapsed = formatElapsed(Math.max(0, (finished && session.ended_ms ? session.ended_ms : now) - from));

    const all = rows(session);
    const byIndex = new Map(all.map((r) => [r.index, r]));
    let visible = all.filter((r) => !hiddenBy(r, byIndex, collapsed));
    let earlier = session.dropped;
    if (maxLines !== undefined && visible.length > maxLines) {
        earlier += visible.length - maxLines;
        visible = visible.slice(visible.length - maxLines);
    }

    // Follow new lines unless the reader scrolled up to read older ones.
    React.useLayoutEffect(() => {
        const el = body.current;
        if (el && stick.current) {
            el.scrollTop = el.scrollHeight;
        }
    }, [session.seq, session.lines?.length]);
    const onScroll = (): void => {
        const el = body.current;
        if (el) {
            stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
        }
    };
    const toggle = (index: number): void => {
        setCollapsed((prev) => {
            const next = new Set(prev);
            if (!next.delete(index)) {
                next.add(index);
            }
            return next;
        });
    };

    let footer = '';
    if (finished) {
        footer = `${stateTag(session.state)} ${elapsed}`;
        const err = (session.error ?? '').split(/\s+/).filter(Boolean).join(' ');
        if (err) {
            footer += ` | ${err}`;
        }
        if (session.tokens > 0) {
            footer += ` | ${formatTokens(session.tokens)} tokens`;
        }
    }

    return (
        <div
            className={`ls-box ls-state-${session.state}${compact ? ' ls-compact' : ''}`}
            data-testid='livestatus-box'
            data-state={session.state}
            data-session-key={session.session_key}
        >
            <div className='ls-head'>
                <span className={`ls-dot ls-${session.state}`}/>
                <span data-testid='livestatus-header'>
                    {finished ? session.agent_id : `[ACTIVE] ${session.agent_id} | ${elapsed}`}
                </span>
                {!finished && session.tokens > 0 && <span style={{opacity: 0.64, fontWeight: 400}}>{`${formatTokens(session.tokens)} tokens`}</span>}
            </div>
            <div className='ls-body' ref={body} onScroll={onScroll}>
                {earlier > 0 && <div className='ls-earlier'>{`… ${earlier} earlier`}</div>}
                {visible.map((r) => {
                    const indent = '  '.repeat(r.line.depth);
                    const sub = r.line.kind === 'sub_agent';
                    return (
                        <div
                            key={r.index}
                            className={`ls-line${sub ? ' ls-sub' : ''}`}
                            data-testid='livestatus-line'
                            onClick={sub ? (e) => {
                                // Folding is not a click on the box (which opens its thread).
                                e.stopPropagation();
                                toggle(r.index);
                            } : undefined}
                        >
                            {indent}
                            {sub && <span className='ls-toggle'>{collapsed.has(r.index) ? '▸' : '▾'}</span>}
                            {r.line.text}
                            {mark(r.line)}
                        </div>
                    );
                })}
            </div>
            {finished && <div className='ls-foot' data-testid='livestatus-footer'>{footer}</div>}
        </div>
    );
}
