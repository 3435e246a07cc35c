/** Channels, direct messages, and the account menu. On a phone it is the home screen. */
import { useState } from 'react';
import type { Channel } from '../../../shared/api.js';
import { api } from '../api/endpoints.js';
import { useStore } from '../state/use-store.js';
import { Avatar, Icon } from '../ui/bits.js';
import { navigate, type Route } from '../ui/router.js';
import { SearchLauncher } from '../search/SearchLauncher.js';
import { ConnectionIndicator } from './ConnectionIndicator.js';
import { BrowseChannelsDialog, NewChannelDialog, NewDirectDialog } from './dialogs.js';

type Dialog = 'channel' | 'direct' | 'browse' | null;

export function Sidebar({ route, onSignedOut }: { route: Route; onSignedOut: (notice?: string) => void }) {
  const store = useStore();
  const [dialog, setDialog] = useState<Dialog>(null);
  const mine = [...store.channels.values()].filter((c) => store.isMember(c));
  const byName = (a: Channel, b: Channel) => store.channelTitle(a).localeCompare(store.channelTitle(b));
  const rooms = mine.filter((c) => c.kind !== 'direct').sort(byName);
  const directs = mine.filter((c) => c.kind === 'direct').sort(byName);
  const activeId = route.name === 'channel' ? route.id : null;
  const me = store.me;

  const signOut = async () => {
    store.rt.disconnect();
    await api.logout().catch(() => {});
    onSignedOut();
  };

  return (
    <aside className="sidebar" aria-label="Conversations">
      <header className="sidebar-header">
        <div className="brand">
          <div className="brand-mark" aria-hidden="true">R</div>
          <span>Relay</span>
        </div>
        <ConnectionIndicator />
        <SearchLauncher route={route} />
      </header>

      <nav className="sidebar-scroll" aria-label="Channels and direct messages">
        <section className="nav-section" aria-labelledby="nav-channels">
          <div className="nav-heading">
            <h2 id="nav-channels">Channels</h2>
            <div className="nav-actions">
              <button type="button" className="icon-button small" onClick={() => setDialog('browse')} aria-label="Browse public channels" title="Browse public channels">
                <Icon name="compass" size={16} />
              </button>
              <button type="button" className="icon-button small" onClick={() => setDialog('channel')} aria-label="New channel" title="New channel">
                <Icon name="plus" size={16} />
              </button>
            </div>
          </div>
          <ul className="nav-list">
            {rooms.map((c) => (
              <ChannelItem key={c.id} channel={c} active={c.id === activeId} />
            ))}
            {store.channelsLoaded && rooms.length === 0 && (
              <li className="nav-empty">
                <button type="button" className="link-button" onClick={() => setDialog('browse')}>
                  Browse channels
                </button>{' '}
                or{' '}
                <button type="button" className="link-button" onClick={() => setDialog('channel')}>
                  create one
                </button>
              </li>
            )}
          </ul>
        </section>

        <section className="nav-section" aria-labelledby="nav-direct">
          <div className="nav-heading">
            <h2 id="nav-direct">Direct messages</h2>
            <div className="nav-actions">
              <button type="button" className="icon-button small" onClick={() => setDialog('direct')} aria-label="New direct message" title="New direct message">
                <Icon name="plus" size={16} />
              </button>
            </div>
          </div>
          <ul className="nav-list">
            {directs.map((c) => (
              <ChannelItem key={c.id} channel={c} active={c.id === activeId} />
            ))}
            {store.channelsLoaded && directs.length === 0 && (
              <li className="nav-empty">
                <button type="button" className="link-button" onClick={() => setDialog('direct')}>
                  Message someone
                </button>
              </li>
            )}
          </ul>
        </section>
      </nav>

      <footer className="sidebar-footer">
        <div className="me">
          <Avatar id={me.id} name={me.displayName || me.username} size={34} status={store.status.state === 'live' ? 'online' : 'offline'} />
          <div className="me-text">
            <strong>{me.displayName || me.username}</strong>
            <span className="muted">@{me.username}</span>
          </div>
        </div>
        <div className="footer-actions">
          <a
            href="/profile"
            className={`footer-link${route.name === 'profile' ? ' active' : ''}`}
            aria-current={route.name === 'profile' ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              navigate({ name: 'profile' });
            }}
          >
            <Icon name="user" size={16} /> Profile
          </a>
          <a
            href="/devices"
            className={`footer-link${route.name === 'devices' ? ' active' : ''}`}
            aria-current={route.name === 'devices' ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              navigate({ name: 'devices' });
            }}
          >
            <Icon name="devices" size={16} /> My devices
          </a>
          {me.role === 'admin' && (
            <a
              href="/admin"
              className={`footer-link${route.name === 'admin' ? ' active' : ''}`}
              aria-current={route.name === 'admin' ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate({ name: 'admin' });
              }}
            >
              <Icon name="shield" size={16} /> Admin
            </a>
          )}
          <button type="button" className="footer-link" onClick={signOut}>
            <Icon name="logout" size={16} /> Sign out
          </button>
        </div>
      </footer>

      {dialog === 'channel' && <NewChannelDialog onClose={() => setDialog(null)} />}
      {dialog === 'direct' && <NewDirectDialog onClose={() => setDialog(null)} />}
      {dialog === 'browse' && <BrowseChannelsDialog onClose={() => setDialog(null)} />}
    </aside>
  );
}

function ChannelItem({ channel, active }: { channel: Channel; active: boolean }) {
  const store = useStore();
  const title = store.channelTitle(channel);
  const { unread, mentions } = store.countsOf(channel.id);
  const partner = store.directPartner(channel);
  const status = partner ? store.presenceOf(partner) : undefined;
  return (
    <li>
      <a
        href={`/c/${encodeURIComponent(channel.id)}`}
        className={`nav-item${active ? ' active' : ''}${unread ? ' unread' : ''}`}
        aria-current={active ? 'page' : undefined}
        onClick={(e) => {
          e.preventDefault();
          navigate({ name: 'channel', id: channel.id });
        }}
      >
        {partner ? (
          <Avatar id={partner} name={title} size={22} status={status} />
        ) : (
          <span className="nav-icon">
            <Icon name={channel.kind === 'private' ? 'lock' : 'hash'} size={16} />
          </span>
        )}
        <span className="nav-label">{title}</span>
        {status && <span className="sr-only">, {status}</span>}
        {unread > 0 && (
          <span className={`badge${mentions ? ' mention' : ''}${channel.muted ? ' muted' : ''}`} aria-label={`${unread} unread${mentions ? `, ${mentions} mentioning you` : ''}`} data-testid="unread-badge">
            {mentions ? '@ ' : ''}
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </a>
    </li>
  );
}
