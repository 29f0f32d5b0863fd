import { useSyncExternalStore } from 'react';
import { wsClient } from '../trpc.ts';

type SocketState = 'idle' | 'connecting' | 'pending';

let current: SocketState = wsClient.connectionState.get().state;
let everConnected = current === 'pending';

function subscribe(onChange: () => void): () => void {
  const sub = wsClient.connectionState.subscribe({
    next: (s) => {
      if (s.state === 'pending') everConnected = true;
      current = s.state;
      onChange();
    },
  });
  return () => sub.unsubscribe();
}

/** The live socket's state; `reconnecting` only once it has been up before, so the first connect is not an alarm. */
export function useSocketState(): 'live' | 'reconnecting' | 'idle' | 'connecting' {
  const state = useSyncExternalStore(subscribe, () => current);
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
