import React from 'react';

import {PLUGIN_ID} from './api';
import {FloatingWidget} from './components/FloatingWidget';
import {LiveStatusPost} from './components/LiveStatusPost';
import {RHSPanel, hydrate} from './components/RHSPanel';
import {store} from './store';
import {injectStyles} from './styles';
import {parseSession} from './types';

// The parts of Mattermost's plugin registry this plugin uses (webapp/channels/src/plugins/registry.ts).
export interface Registry {
    registerPostTypeComponent(type: string, component: React.ElementType): string;
    registerWebSocketEventHandler(event: string, handler: (msg: {event: string; data: Record<string, unknown>}) => void): void;
    registerReconnectHandler?(handler: () => void): void;
    registerRightHandSidebarComponent(component: React.ElementType, title: React.ReactNode): {toggleRHSPlugin: unknown};
    registerChannelHeaderButtonAction(icon: React.ReactNode, action: () => void, dropdownText: string, tooltipText: string): string;
    registerAppBarComponent?(iconUrl: string, action: () => void, tooltipText: string): string;
    registerRootComponent(component: React.ElementType): string;
}

export interface ReduxStore {
    dispatch(action: unknown): unknown;
}

export const POST_TYPE = 'custom_livestatus';
export const EVENT_UPDATE = `custom_${PLUGIN_ID}_session_update`;
export const EVENT_REMOVED = `custom_${PLUGIN_ID}_session_removed`;

function Icon(): React.ReactElement {
    return (
        <svg width='16' height='16' viewBox='0 0 16 16' aria-label='Live Status'>
            <rect x='1' y='2' width='14' height='12' rx='2' fill='none' stroke='currentColor' strokeWidth='1.5'/>
            <path d='M4 6l2 2-2 2M8 10h4' fill='none' stroke='currentColor' strokeWidth='1.5'/>
        </svg>
    );
}

export class LiveStatusPlugin {
    initialize(registry: Registry, reduxStore: ReduxStore): void {
        injectStyles();
        registry.registerPostTypeComponent(POST_TYPE, LiveStatusPost);
        registry.registerWebSocketEventHandler(EVENT_UPDATE, (msg) => {
            const session = parseSession(msg.data?.session);
            if (session) {
                store.dispatch({type: 'upsert', session});
            }
        });
        registry.registerWebSocketEventHandler(EVENT_REMOVED, (msg) => {
            const key = msg.data?.session_key;
            if (typeof key === 'string') {
                const postId = typeof msg.data?.post_id === 'string' ? msg.data.post_id : undefined;
                store.dispatch({type: 'removed', session_key: key, post_id: postId});
            }
        });
        // Events missed while the socket was down are caught up from the server.
        registry.registerReconnectHandler?.(() => {
            hydrate();
        });
        const rhs = registry.registerRightHandSidebarComponent(RHSPanel, 'Live Status');
        const toggle = (): void => {
            reduxStore.dispatch(rhs.toggleRHSPlugin);
        };
        registry.registerChannelHeaderButtonAction(<Icon/>, toggle, 'Live Status', 'Live Status: active agent sessions');
        const base = (window as unknown as {basename?: string}).basename ?? '';
        registry.registerAppBarComponent?.(`${base}/plugins/${PLUGIN_ID}/public/icon.svg`, toggle, 'Live Status');
        registry.registerRootComponent(FloatingWidget);
        hydrate();
    }
}

declare global {
    interface Window {
        registerPlugin(id: string, plugin: LiveStatusPlugin): void;
    }
}

window.registerPlugin(PLUGIN_ID, new LiveStatusPlugin());
