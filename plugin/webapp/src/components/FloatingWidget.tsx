import React from 'react';

import {useLiveState, useNow} from '../hooks';
import {jumpToPost} from '../navigation';
import {activeSessions, busiest} from '../store';

import {StatusBox} from './StatusBox';

export const WIDGET_STORAGE_KEY = 'com.openclaw.livestatus.widget';
const WIDTH = 340;

interface Placement {
    x: number;
    y: number;
    collapsed: boolean;
}

function clamp(p: Placement): Placement {
    const maxX = Math.max(0, window.innerWidth - WIDTH);
    const maxY = Math.max(0, window.innerHeight - 40);
    return {...p, x: Math.min(Math.max(0, p.x), maxX), y: Math.min(Math.max(0, p.y), maxY)};
}

export function loadPlacement(): Placement {
    const fallback = {x: window.innerWidth - WIDTH - 24, y: window.innerHeight - 260, collapsed: false};
    try {
        const v = JSON.parse(window.localStorage.getItem(WIDGET_STORAGE_KEY) ?? 'null') as Partial<Placement> | null;
        if (v && typeof v.x === 'number' && typeof v.y === 'number') {
            return clamp({x: v.x, y: v.y, collapsed: v.collapsed === true});
        }
    } catch {
        // A broken value is replaced on the next move.
    }
    return clamp(fallback);
}

function savePlacement(p: Placement): void {
    try {
        window.localStorage.setItem(WIDGET_STORAGE_KEY, JSON.stringify(p));
    } catch {
        // Storage full or disabled: the position is kept for this page only.
    }
}

// FloatingWidget shows the busiest active session from anywhere in Mattermost: it appears when a
// session becomes active and hides hideAfterMs after the last one ends. It can be dragged (its
// place is remembered) and folded; a click on the lines opens the box's thread.
export function FloatingWidget({hideAfterMs = 5000}: {hideAfterMs?: number}): React.ReactElement | null {
    const state = useLiveState();
    const active = activeSessions(state);
    const top = busiest(state);
    const lastKey = React.useRef<string | null>(null);
    if (top) {
        lastKey.current = top.session_key;
    }
    const shown = top ?? (lastKey.current ? state.sessions[lastKey.current] ?? null : null);

    const [visible, setVisible] = React.useState(false);
    const hasActive = top !== null;
    React.useEffect(() => {
        if (hasActive) {
            setVisible(true);
            return undefined;
        }
        const id = window.setTimeout(() => setVisible(false), hideAfterMs);
        return () => window.clearTimeout(id);
    }, [hasActive, hideAfterMs]);

    const [place, setPlace] = React.useState<Placement>(loadPlacement);
    const drag = React.useRef<{dx: number; dy: number} | null>(null);
    const onPointerDown = (e: React.PointerEvent): void => {
        drag.current = {dx: e.clientX - place.x, dy: e.clientY - place.y};
        const move = (ev: PointerEvent): void => {
            if (drag.current) {
                setPlace((p) => clamp({...p, x: ev.clientX - drag.current!.dx, y: ev.clientY - drag.current!.dy}));
            }
        };
        const up = (): void => {
            drag.current = null;
            window.removeEventListener('pointermove', move);
            window.removeEventListener('pointerup', up);
            setPlace((p) => {
                savePlacement(p);
                return p;
            });
        };
        window.addEventListener('pointermove', move);
        window.addEventListener('pointerup', up);
    };
    const toggleCollapsed = (): void => {
        setPlace((p) => {
            const next = {...p, collapsed: !p.collapsed};
            savePlacement(next);
            return next;
        });
    };

    const now = useNow(hasActive);
    if (!visible || !shown) {
        return null;
    }
    return (
        <div
            className='ls-widget'
            data-testid='livestatus-widget'
            data-collapsed={place.collapsed}
            style={{left: place.x, top: place.y}}
        >
            <div
                className='ls-widget-head'
                data-testid='livestatus-widget-handle'
                onPointerDown={onPointerDown}
            >
                <span className={`ls-dot ls-${shown.state}`}/>
                <span className='ls-widget-title'>{`Live Status · ${shown.agent_id}`}</span>
                <span
                    className='ls-badge'
                    data-testid='livestatus-widget-count'
                    title='active sessions'
                >{active.length}</span>
                <button
                    className='ls-widget-btn'
                    data-testid='livestatus-widget-collapse'
                    onPointerDown={(e) => e.stopPropagation()}
                    onClick={toggleCollapsed}
                    title={place.collapsed ? 'Expand' : 'Collapse'}
                >{place.collapsed ? '▴' : '▾'}</button>
            </div>
            {!place.collapsed && (
                <div
                    className='ls-widget-body'
                    data-testid='livestatus-widget-body'
                    onClick={() => jumpToPost(shown.post_id)}
                >
                    <StatusBox session={shown} now={now} maxLines={5} compact={true}/>
                </div>
            )}
        </div>
    );
}
