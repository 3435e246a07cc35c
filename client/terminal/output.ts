/**
 * What the terminal client prints: aligned tables and message lines for people, one JSON value
 * per line with --json for programs. Results go to stdout; prompts, progress and errors to stderr.
 *
 * Guarantees: text from the server (messages, names, error messages, close reasons) never makes
 * the terminal act. For people, every line printed or noted passes through `safeText`: C0 and C1
 * controls (but newline and tab) and the bidi embeddings, overrides and isolates (U+202A–U+202E,
 * U+2066–U+2069) become U+FFFD. With --json, C1 and bidi characters are written as \uXXXX escapes
 * (JSON.stringify already escapes C0), so the line is the same JSON value and inert on a terminal.
 *
 * @example
 * print(table(['NAME', 'KIND'], [['general', 'public']]));
 * printJson({ seq: 12 });
 */
import type { Message } from '../../shared/api.js';

export function print(text: string): void {
  const safe = safeText(text);
  process.stdout.write(safe.endsWith('\n') ? safe : safe + '\n');
}

/** Characters a terminal may act on that JSON.stringify leaves as they are. */
const JSON_UNSAFE = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** One JSON value on one line, with C1 and bidi characters escaped (see the header). */
export function jsonLine(value: unknown): string {
  // These characters can only stand inside JSON strings, where \uXXXX means the same character.
  return JSON.stringify(value).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function printJson(value: unknown): void {
  process.stdout.write(jsonLine(value) + '\n');
}

/** A notice for the person at the terminal (never part of the command's output). */
export function note(text: string): void {
  process.stderr.write(safeText(text) + '\n');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i] - [...cell].length))).join('  ').trimEnd()).join('\n');
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local time: "14:05" today, "2026-01-31 14:05" otherwise. */
export function formatTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.toDateString() === now.toDateString()) return hm;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

/**
 * Control characters other than newline and tab (C0, DEL, C1) could move the cursor or recolour
 * the terminal; bidi embeddings, overrides and isolates could make a line read other than it is.
 */
export function safeText(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '\uFFFD');
}

/** "[#12 14:05] alice: hello"; continuation lines of a multi-line body are indented. */
export function messageLine(m: Message, sender: string): string {
  const head = `[#${m.seq} ${formatTime(m.createdAt)}] ${safeText(sender)}`;
  if (m.deletedAt) return `${head}: (deleted)`;
  const body = safeText(m.body).replace(/\n/g, '\n    ');
  return `${head}${m.editedAt ? ' (edited)' : ''}: ${body}`;
}

export function editedLine(m: Message, sender: string): string {
  return `[#${m.seq} edited ${formatTime(m.editedAt ?? m.createdAt)}] ${safeText(sender)}: ${safeText(m.body).replace(/\n/g, '\n    ')}`;
}

export function deletedLine(seq: number | undefined, sender: string | undefined): string {
  return seq !== undefined ? `[#${seq} deleted] ${safeText(sender ?? 'someone')}'s message was deleted` : `[deleted] a message was deleted`;
}
