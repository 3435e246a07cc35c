/**
 * A message body as Markdown: react-markdown (CommonMark through remark, rendered as React
 * elements, never through innerHTML) with remark-gfm for autolinks, strikethrough and lists.
 *
 * No raw HTML ever reaches the page: react-markdown drops HTML unless rehype-raw is added (it
 * is not), and before that, HTML in a message is turned into plain text here, so `<b>` shows
 * as typed instead of vanishing. Link targets go through react-markdown's defaultUrlTransform,
 * which blanks every protocol but http(s), mailto, irc(s) and xmpp (no `javascript:`); links
 * open in a new tab with rel="noopener noreferrer". `@username` of a channel member is marked
 * as a mention (strongly when it is us).
 */
import { memo } from 'react';
import Markdown, { type Components } from 'react-markdown';
import remarkGfm from 'remark-gfm';

interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
  data?: { hName?: string; hProperties?: Record<string, unknown> };
}

const MENTION = /@([a-z0-9_.-]+)/gi;

/** Raw HTML becomes text; `@name` of a member becomes a mention span. */
function remarkRelay(options: { usernames: ReadonlySet<string>; me: string }) {
  const splitMentions = (value: string): MdNode[] => {
    const out: MdNode[] = [];
    let last = 0;
    for (const match of value.matchAll(MENTION)) {
      // A trailing `.` ends a sentence, not a username (contract: mentions).
      const name = match[1].replace(/\.+$/, '').toLowerCase();
      if (!options.usernames.has(name)) continue;
      const start = match.index;
      const end = start + 1 + name.length;
      if (start > last) out.push({ type: 'text', value: value.slice(last, start) });
      out.push({
        type: 'text',
        value: value.slice(start, end),
        data: { hName: 'span', hProperties: { className: name === options.me ? ['mention', 'mention-me'] : ['mention'] } },
      });
      last = end;
    }
    if (out.length === 0) return [{ type: 'text', value }];
    if (last < value.length) out.push({ type: 'text', value: value.slice(last) });
    return out;
  };
  const walk = (node: MdNode): void => {
    if (!node.children) return;
    node.children = node.children.flatMap((child) => {
      if (child.type === 'html') return [{ type: 'text', value: child.value ?? '' }];
      if (child.type === 'text' && child.value) return splitMentions(child.value);
      walk(child);
      return [child];
    });
  };
  return (tree: MdNode) => walk(tree);
}

const components: Components = {
  a: ({ node: _node, href, children, ...rest }) => (
    <a {...rest} href={href} target="_blank" rel="noopener noreferrer">
      {children}
    </a>
  ),
  // Images would load from anywhere on sight (tracking): shown as links instead.
  img: ({ src, alt }) =>
    typeof src === 'string' && src ? (
      <a href={src} target="_blank" rel="noopener noreferrer">
        {alt || src}
      </a>
    ) : (
      <>{alt}</>
    ),
};

export const MessageBody = memo(function MessageBody({ body, usernames, me }: { body: string; usernames: ReadonlySet<string>; me: string }) {
  return (
    <Markdown remarkPlugins={[remarkGfm, [remarkRelay, { usernames, me }]]} components={components} skipHtml={false}>
      {body}
    </Markdown>
  );
});
