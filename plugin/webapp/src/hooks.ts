import React from 'react';

import {store, type State} from './store';

export function useLiveState(): State {
    return React.useSyncExternalStore(store.subscribe, store.getState, store.getState);
}

// useNow ticks every second while ticking is true, so elapsed times move without any event.
export function useNow(ticking: boolean): number {
    const [now, setNow] = React.useState(() => Date.now());
    React.useEffect(() => {
        if (!ticking) {
            return undefined;
        }
        setNow(Date.now());
        const id = window.setInterval(() => setNow(Date.now()), 1000);
        return () => window.clearInterval(id);
    }, [ticking]);
    return now;
}
