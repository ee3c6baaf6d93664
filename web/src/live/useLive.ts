import { useEffect, useReducer, useRef } from 'react';
import { LiveSocket, frontendSocketUrl } from './socket';
import { initialLiveState, liveReducer, type LiveState } from './store';

export interface LiveHandle {
  state: LiveState;
  dismissError: (id: number) => void;
  reconnectNow: () => void;
}

/** The live state of ``accountId``, kept by one socket for as long as the view is mounted. */
export function useLive(wsBase: string, accountId: string | null, token: string | null): LiveHandle {
  const [state, dispatch] = useReducer(liveReducer, undefined, initialLiveState);
  const socketRef = useRef<LiveSocket | null>(null);

  useEffect(() => {
    dispatch({ kind: 'reset' });
    if (!accountId) return;
    const socket = new LiveSocket({ url: frontendSocketUrl(wsBase, accountId, token), dispatch });
    socketRef.current = socket;
    socket.start();
    return () => {
      socket.stop();
      socketRef.current = null;
    };
  }, [wsBase, accountId, token]);

  return {
    state,
    dismissError: (id) => dispatch({ kind: 'dismiss_error', id }),
    reconnectNow: () => socketRef.current?.reconnectNow(),
  };
}
