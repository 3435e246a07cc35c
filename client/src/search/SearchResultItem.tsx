/**
 * One search result: where (channel), who, when, and the snippet with the matched words marked.
 * The snippet's segments are the server's plain text and are rendered as text, never as HTML:
 * a message holding `<b>` shows `<b>`.
 */
import type { SearchResult, SnippetSegment } from '../../../shared/api.js';
import { useStore } from '../state/use-store.js';
import { Avatar, Icon } from '../ui/bits.js';
import { formatDay, formatFull, formatTime } from '../ui/format.js';

export function Snippet({ segments }: { segments: SnippetSegment[] }) {
  return (
    <span className="snippet">
      {segments.map((s, i) => (s.match ? <mark key={i}>{s.text}</mark> : <span key={i}>{s.text}</span>))}
    </span>
  );
}

export function SearchResultItem({ result, onOpen }: { result: SearchResult; onOpen: () => void }) {
  const store = useStore();
  const { message, channel, snippet } = result;
  const sender = store.personName(message.senderId);
  const where = channel.kind === 'direct' ? store.channelTitle(channel) : channel.name;
  const when = formatDay(message.createdAt);
  return (
    <li className="search-result" data-message-id={message.id}>
      <a
        href={`/c/${encodeURIComponent(channel.id)}`}
        onClick={(e) => {
          e.preventDefault();
          onOpen();
        }}
      >
        <Avatar id={message.senderId} name={sender} size={32} />
        <span className="search-result-main">
          <span className="search-result-meta">
            <strong className="search-result-sender">{sender}</strong>
            <span className="search-result-channel">
              {channel.kind === 'direct' ? (
                <>
                  <Icon name="message" size={13} /> {where}
                </>
              ) : (
                <>
                  <Icon name={channel.kind === 'private' ? 'lock' : 'hash'} size={13} />
                  {where}
                </>
              )}
            </span>
            <time dateTime={message.createdAt} title={formatFull(message.createdAt)}>
              {when === 'Today' ? formatTime(message.createdAt) : `${when}, ${formatTime(message.createdAt)}`}
            </time>
          </span>
          <Snippet segments={snippet} />
        </span>
      </a>
    </li>
  );
}
