/**
 * The `@name` being typed at the caret, and putting a chosen username in its place: what the
 * composer's member autocomplete needs, as plain functions.
 */

/** The mention being typed just before the caret: where its `@` is and what follows it. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  const m = /(?:^|\s)@([a-z0-9_.-]{0,32})$/i.exec(text.slice(0, caret));
  if (!m) return null;
  return { start: caret - m[1].length - 1, query: m[1].toLowerCase() };
}

/** Replaces the `@query` at `start` with `@username ` and says where the caret goes. */
export function insertMention(text: string, start: number, caret: number, username: string): { text: string; caret: number } {
  const inserted = `@${username} `;
  return { text: text.slice(0, start) + inserted + text.slice(caret), caret: start + inserted.length };
}
