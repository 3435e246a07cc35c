/** Opening the search from anywhere: the sidebar's box, Ctrl/Cmd+K, or `/` outside a text field. */
import { useEffect } from 'react';
import type { ChatStore } from '../state/chat-store.js';
import { navigate, type Route } from '../ui/router.js';

export const SEARCH_INPUT_ID = 'message-search';

/** Goes to the search (the open conversation offered as its filter) and puts the caret in the box. */
export function openSearch(store: ChatStore, from: Route): void {
  if (from.name !== 'search') store.search.setContext(from.name === 'channel' ? from.id : null);
  navigate({ name: 'search' });
  // The box exists after the next render when the search was not on screen yet.
  requestAnimationFrame(() => {
    const input = document.getElementById(SEARCH_INPUT_ID);
    if (input instanceof HTMLInputElement) {
      input.focus();
      input.select();
    }
  });
}

function typingInto(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || (target instanceof HTMLInputElement && target.type !== 'checkbox' && target.type !== 'radio');
}

/** Ctrl/Cmd+K anywhere, and `/` where it would not be typed into a field, open the search. */
export function useSearchShortcut(store: ChatStore, route: Route): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.isComposing) return;
      const commandK = (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 'k';
      const slash = e.key === '/' && !e.ctrlKey && !e.metaKey && !e.altKey && !typingInto(e.target);
      // A modal dialog is open: it keeps the keyboard.
      if (!(commandK || slash) || document.querySelector('dialog[open]')) return;
      e.preventDefault();
      openSearch(store, route);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store, route]);
}
