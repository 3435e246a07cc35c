/**
 * Message search (GET /api/search): the query, an optional channel to search in, the results
 * so far and the next page ("more", by the last result's id). Kept for the whole session, so
 * coming back from a result finds the list as it was.
 *
 * Typing searches after a pause (one request per pause, not per key: the server limits
 * searches per user); an answer to an older query or scope is dropped, never shown.
 */
import { useSyncExternalStore } from 'react';
import type { SearchResult } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { ApiError, describeError, formatWait } from '../api/http.js';
import type { ChatStore } from './chat-store.js';

export const SEARCH_PAGE = 20;
const TYPING_PAUSE_MS = 300;

export type SearchStatus = 'idle' | 'loading' | 'done' | 'error';

export class SearchState {
  query = '';
  /** Search only this channel (null: everywhere the user may read). */
  channelId: string | null = null;
  /** The conversation open before searching: the one offered as a filter. */
  context: string | null = null;
  results: SearchResult[] = [];
  status: SearchStatus = 'idle';
  loadingMore = false;
  hasMore = false;
  error: string | null = null;
  /** The query the results are for (the box may already hold the next one). */
  searched = '';

  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Bumped by every new search: answers carrying an older number are dropped. */
  private generation = 0;
  private version = 0;
  private readonly listeners = new Set<() => void>();

  /** The search box changed: searches once typing pauses (an empty box clears the results). */
  setQuery(query: string): void {
    this.query = query;
    this.schedule(TYPING_PAUSE_MS);
    this.changed();
  }

  /** Searches now (Enter), unless these results are already for this query. */
  submit(): void {
    if (this.query.trim() === this.searched && this.status !== 'error' && this.status !== 'idle') return;
    this.schedule(0);
  }

  setChannel(channelId: string | null): void {
    if (channelId === this.channelId) return;
    this.channelId = channelId;
    this.searched = '';
    this.schedule(0);
    this.changed();
  }

  /** Opening the search from a conversation offers it as the filter; from elsewhere, none. */
  setContext(channelId: string | null): void {
    this.context = channelId;
    if (this.channelId && this.channelId !== channelId) this.setChannel(null);
    this.changed();
  }

  /** The next page of results, older than the last one shown. */
  async more(): Promise<void> {
    const last = this.results.at(-1);
    if (!last || !this.hasMore || this.loadingMore || this.status !== 'done') return;
    const generation = this.generation;
    this.loadingMore = true;
    this.changed();
    try {
      const page = await api.search(this.searched, { channelId: this.channelId ?? undefined, before: last.message.id, limit: SEARCH_PAGE });
      if (generation !== this.generation) return;
      const have = new Set(this.results.map((r) => r.message.id));
      this.results = [...this.results, ...page.filter((r) => !have.has(r.message.id))];
      this.hasMore = page.length === SEARCH_PAGE;
    } catch (err) {
      if (generation === this.generation) this.error = describeSearchError(err);
    } finally {
      if (generation === this.generation) this.loadingMore = false;
      this.changed();
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.generation++;
    this.listeners.clear();
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getVersion = (): number => this.version;

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, ms);
  }

  private async run(): Promise<void> {
    const q = this.query.trim();
    const generation = ++this.generation;
    this.error = null;
    this.loadingMore = false;
    if (!q) {
      // The server refuses an empty query (400): nothing to ask.
      this.results = [];
      this.searched = '';
      this.hasMore = false;
      this.status = 'idle';
      return this.changed();
    }
    this.status = 'loading';
    this.changed();
    try {
      const page = await api.search(q, { channelId: this.channelId ?? undefined, limit: SEARCH_PAGE });
      if (generation !== this.generation) return;
      this.results = page;
      this.searched = q;
      this.hasMore = page.length === SEARCH_PAGE;
      this.status = 'done';
    } catch (err) {
      if (generation !== this.generation) return;
      this.error = describeSearchError(err);
      this.status = 'error';
    }
    this.changed();
  }

  private changed(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }
}

function describeSearchError(err: unknown): string {
  if (err instanceof ApiError && err.code === 'rate_limited')
    return err.retryAfter ? `Too many searches. Try again in ${formatWait(err.retryAfter)}.` : 'Too many searches. Wait a moment and try again.';
  if (err instanceof ApiError && err.code === 'forbidden') return 'You can no longer read that channel. Search everywhere instead.';
  return describeError(err);
}

/** The search state (re-renders on its changes). */
export function useSearch(store: ChatStore): SearchState {
  useSyncExternalStore(store.search.subscribe, store.search.getVersion);
  return store.search;
}
