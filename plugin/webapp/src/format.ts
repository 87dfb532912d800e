// The same short formats as the agent (agent/src/render/format.rs) and the server (render.go).

export function formatElapsed(ms: number): string {
    const s = Math.floor(Math.max(ms, 0) / 1000);
    if (s < 60) {
        return `${s}s`;
    }
    if (s < 3600) {
        return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
    }
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatTokens(n: number): string {
    if (n < 1000) {
        return String(n);
    }
    for (const [div, unit] of [[1e3, 'k'], [1e6, 'M'], [1e9, 'G']] as const) {
        const tenths = Math.round((n * 10) / div);
        if (tenths < 1000) {
            return tenths % 10 === 0 ? `${tenths / 10}${unit}` : `${Math.floor(tenths / 10)}.${tenths % 10}${unit}`;
        }
        const whole = Math.round(n / div);
        if (whole < 1000) {
            return `${whole}${unit}`;
        }
    }
    return `${Math.floor(n / 1e9)}G`;
}

export function stateTag(state: string): string {
    return `[${state.toUpperCase()}]`;
}
