/** One conversation: header with presence, message history (MessageList.tsx), typing and composer (Composer.tsx). */
import { useState } from 'react';
import { useStore } from '../state/use-store.js';
import { Avatar, BackButton, Icon } from '../ui/bits.js';
import { ConfirmDialog } from '../ui/ConfirmDialog.js';
import { navigate } from '../ui/router.js';
import { Composer, TypingIndicator } from './Composer.js';
import { AddPeopleDialog } from './dialogs.js';
import { JoinBar } from './JoinBar.js';
import { MessageList } from './MessageList.js';

export function ChannelView({ channelId }: { channelId: string }) {
  const store = useStore();
  const channel = store.channels.get(channelId)!;
  const title = store.channelTitle(channel);
  const partner = store.directPartner(channel);
  const partnerStatus = partner ? store.presenceOf(partner) : undefined;
  const online = channel.memberIds.filter((id) => store.presenceOf(id) === 'online').length;
  const [dialog, setDialog] = useState<'add' | 'leave' | null>(null);
  const member = store.isMember(channel);
  const canAdd = channel.kind !== 'direct' && member;

  const leave = async () => {
    await store.leave(channelId);
    navigate({ name: 'home' });
  };

  return (
    <section className="channel" aria-labelledby="channel-title">
      <header className="channel-header">
        <BackButton />
        {partner ? (
          <Avatar id={partner} name={title} size={34} status={partnerStatus} />
        ) : (
          <span className="channel-icon">
            <Icon name={channel.kind === 'private' ? 'lock' : 'hash'} />
          </span>
        )}
        <div className="channel-heading">
          <h1 id="channel-title">{title}</h1>
          <p className="muted">
            {partner ? (
              <span data-testid="partner-presence">{!partnerStatus ? 'Waiting for the connection…' : partnerStatus === 'online' ? 'Online' : 'Offline'}</span>
            ) : (
              <>
                {channel.kind === 'private' ? 'Private' : 'Public'} · {channel.memberIds.length} member{channel.memberIds.length === 1 ? '' : 's'}
                {store.status.state === 'live' && ` · ${online} online`}
              </>
            )}
          </p>
        </div>
        {!partner && (
          <div className="member-stack" aria-label="Members">
            {channel.memberIds.slice(0, 4).map((id) => (
              <span key={id} title={store.presenceOf(id) ? `${store.personName(id)} (${store.presenceOf(id)})` : store.personName(id)}>
                <Avatar id={id} name={store.personName(id)} size={26} status={store.presenceOf(id)} />
              </span>
            ))}
          </div>
        )}
        {member && (
          <button
            type="button"
            className="icon-button small"
            aria-pressed={!!channel.muted}
            aria-label={channel.muted ? 'Unmute notifications' : 'Mute notifications'}
            title={channel.muted ? 'Muted: no notifications. Click to unmute' : 'Mute notifications'}
            onClick={() => void store.setMuted(channelId, !channel.muted)}
          >
            <Icon name={channel.muted ? 'bellOff' : 'bell'} size={16} />
          </button>
        )}
        {canAdd && (
          <button type="button" className="button small" onClick={() => setDialog('add')} aria-label="Add people" title="Add people">
            <Icon name="plus" size={14} /> <span className="wide-only">Add people</span>
          </button>
        )}
        {channel.kind !== 'direct' && member && (
          <button type="button" className="button small subtle" onClick={() => setDialog('leave')}>
            Leave
          </button>
        )}
      </header>
      {dialog === 'add' && canAdd && <AddPeopleDialog channelId={channelId} onClose={() => setDialog(null)} />}
      {dialog === 'leave' && (
        <ConfirmDialog title={`Leave ${channel.kind === 'private' ? '' : '#'}${channel.name}?`} confirmLabel="Leave channel" busyLabel="Leaving…" danger onConfirm={leave} onCancel={() => setDialog(null)}>
          <p>
            {channel.kind === 'private'
              ? 'It is private: to come back, someone in it has to add you again.'
              : 'You will stop getting its messages. You can join it again from Browse channels.'}
          </p>
        </ConfirmDialog>
      )}
      <MessageList channelId={channelId} title={title} direct={!!partner} />
      {member ? (
        <>
          <TypingIndicator channelId={channelId} />
          <Composer channelId={channelId} label={partner ? `Message ${title}` : `Message #${title}`} />
        </>
      ) : (
        <JoinBar channel={channel} />
      )}
      <div className="sr-only" aria-live="polite" aria-atomic="true">
        {store.announcement}
      </div>
    </section>
  );
}

