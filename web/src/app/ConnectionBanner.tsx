import { useSyncExternalStore } from 'react';
import { wsClient } from '../trpc.ts';

type SocketState = 'idle' | 'connecting' | 'pending';

/**
 * After a drop, the socket counts as back only once it has stayed open this long: a connection that opens and
 * falls again at once (a flaky network, a proxy refusing) keeps the "reconnecting" notice up instead of flickering.
 */
const STABLE_MS = 1_000;

const listeners = new Set<() => void>();
let shown: SocketState = wsClient.connectionState.get().state;
let everConnected = shown === 'pending';
let settle: ReturnType<typeof setTimeout> | undefined;

const show = (state: SocketState) => {
  shown = state;
  for (const l of listeners) l();
};

wsClient.connectionState.subscribe({
  next: ({ state }) => {
    clearTimeout(settle);
    if (state === 'pending' && everConnected && shown === 'connecting') {
      settle = setTimeout(() => show('pending'), STABLE_MS);
      return;
    }
    if (state === 'pending') everConnected = true;
    show(state);
  },
});

function subscribe(onChange: () => void): () => void {
  listeners.add(onChange);
  return () => listeners.delete(onChange);
}

/** The live socket's state; `reconnecting` only once it has been up before, so the first connect is not an alarm. */
export function useSocketState(): 'live' | 'reconnecting' | 'idle' | 'connecting' {
  const state = useSyncExternalStore(subscribe, () => shown);
  if (state === 'pending') return 'live';
  if (state === 'connecting') return everConnected ? 'reconnecting' : 'connecting';
  return 'idle';
}

/** Shown over every tenant page while the WebSocket is down; live views resume from their last event id. */
export function ConnectionBanner() {
  const state = useSocketState();
  if (state !== 'reconnecting') return null;
  return (
    <div className="notice notice-warning connection-banner" role="status">
      Reconnecting to live updates… Your changes are kept and the page catches up when the connection returns.
    </div>
  );
}
