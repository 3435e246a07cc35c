/** The search box of the sidebar: opens the search page (where the typing happens) with its shortcut shown. */
import { useStore } from '../state/use-store.js';
import { Icon } from '../ui/bits.js';
import type { Route } from '../ui/router.js';
import { openSearch } from './shortcut.js';
import './search.css';

const isMac = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform);

export function SearchLauncher({ route }: { route: Route }) {
  const store = useStore();
  return (
    <button
      type="button"
      className={`search-launcher${route.name === 'search' ? ' active' : ''}`}
      onClick={() => openSearch(store, route)}
      aria-keyshortcuts={isMac ? 'Meta+K /' : 'Control+K /'}
    >
      <Icon name="search" size={16} />
      <span className="search-launcher-label">Search messages</span>
      <kbd aria-hidden="true">{isMac ? '⌘K' : 'Ctrl K'}</kbd>
    </button>
  );
}
