import { createContext, useContext, useSyncExternalStore } from 'react';
import type { ChatStore } from './chat-store.js';

export const StoreContext = createContext<ChatStore | null>(null);

/** The chat store; the calling component re-renders on every change to it. */
export function useStore(): ChatStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useStore outside StoreContext');
  useSyncExternalStore(store.subscribe, store.getVersion);
  return store;
}
