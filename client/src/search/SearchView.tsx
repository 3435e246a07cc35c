/**
 * Message search: a box, an optional "only in this channel" filter, and the results, newest
 * first, with more loaded as the list is scrolled to its end. Opening a result opens its
 * conversation at that message (state/message-window.ts).
 */
import { useEffect, useId, useRef, useState } from 'react';
import type { SearchResult } from '../../../shared/api.js';
import { useSearch } from '../state/search.js';
import { useStore } from '../state/use-store.js';
import { BackButton, ErrorNotice, Icon } from '../ui/bits.js';
import { navigate } from '../ui/router.js';
import { SearchResultItem } from './SearchResultItem.js';
import { SEARCH_INPUT_ID } from './shortcut.js';
import './search.css';

export function SearchView() {
  const store = useStore();
  const search = useSearch(store);
  const scroller = useRef<HTMLElement>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const statusId = useId();
  const context = search.context ? store.channels.get(search.context) : undefined;
  const [openError, setOpenError] = useState<string | null>(null);

  // Names of the senders found (people outside our channels are not loaded yet).
  useEffect(() => {
    store.ensurePeople(search.results.map((r) => r.message.senderId));
  }, [store, search.results]);

  // More results as the end of the list comes into view.
  const { hasMore, loadingMore, status } = search;
  useEffect(() => {
    const root = scroller.current;
    const end = sentinel.current;
    if (!root || !end || !hasMore || loadingMore || status !== 'done') return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && void search.more(), { root, rootMargin: '200px' });
    io.observe(end);
    return () => io.disconnect();
  }, [search, hasMore, loadingMore, status]);

  const open = async (r: SearchResult) => {
    // A public channel made since the list was loaded is not known yet.
    setOpenError(null);
    if (!store.channels.has(r.channel.id)) await store.refreshChannels().catch(() => {});
    if (!store.channels.has(r.channel.id)) return setOpenError('That conversation cannot be opened any more.');
    store.jumps.open(r.channel.id, { id: r.message.id, seq: r.message.seq });
    navigate({ name: 'channel', id: r.channel.id });
  };

  const q = search.searched;
  let statusText = '';
  if (search.status === 'loading') statusText = 'Searching…';
  else if (search.status === 'done' && search.results.length === 0) statusText = `No messages match “${q}”${search.channelId && context ? ` in #${context.name}` : ''}.`;
  else if (search.status === 'done')
    statusText = `${search.results.length}${search.hasMore ? '+' : ''} ${search.results.length === 1 && !search.hasMore ? 'message matches' : 'messages match'} “${q}”${search.channelId && context ? ` in #${context.name}` : ''}`;

  return (
    <section className="page search-page" aria-labelledby="search-title" ref={scroller}>
      <header className="search-header">
        <BackButton />
        <div className="search-header-main">
          <h1 id="search-title">Search messages</h1>
          <form
            role="search"
            onSubmit={(e) => {
              e.preventDefault();
              search.submit();
            }}
          >
            <div className="search-field search-box">
              <Icon name="search" size={18} />
              <input
                id={SEARCH_INPUT_ID}
                type="search"
                aria-label="Search messages"
                aria-describedby={statusId}
                placeholder="Words to find"
                autoComplete="off"
                spellCheck={false}
                value={search.query}
                onChange={(e) => search.setQuery(e.target.value)}
                autoFocus
              />
            </div>
          </form>
          {context && context.kind !== 'direct' && (
            <label className="search-scope">
              <input type="checkbox" checked={search.channelId === context.id} onChange={(e) => search.setChannel(e.target.checked ? context.id : null)} />
              Only in {context.kind === 'private' ? '' : '#'}
              {context.name}
            </label>
          )}
          {context && context.kind === 'direct' && (
            <label className="search-scope">
              <input type="checkbox" checked={search.channelId === context.id} onChange={(e) => search.setChannel(e.target.checked ? context.id : null)} />
              Only with {store.channelTitle(context)}
            </label>
          )}
        </div>
      </header>
      <div className="search-body">
        <p id={statusId} className="search-status muted" role="status" aria-live="polite">
          {statusText}
        </p>
        {search.status === 'idle' && !search.error && (
          <p className="muted search-hint">Find messages in your channels, your direct messages and every public channel. Press Ctrl+K or / to search from anywhere.</p>
        )}
        <ErrorNotice message={search.error ?? openError} />
        {search.results.length > 0 && (
          <ol className="search-results" aria-label="Results">
            {search.results.map((r) => (
              <SearchResultItem key={r.message.id} result={r} onOpen={() => void open(r)} />
            ))}
          </ol>
        )}
        <div ref={sentinel} className="search-more">
          {search.loadingMore && <span className="muted">Loading more…</span>}
          {!search.loadingMore && search.hasMore && search.status === 'done' && (
            <button type="button" className="button small" onClick={() => void search.more()}>
              More results
            </button>
          )}
          {search.status === 'done' && !search.hasMore && search.results.length > 0 && <span className="muted">No more results.</span>}
        </div>
      </div>
    </section>
  );
}
