/**
 * What the terminal client prints: aligned tables and message lines for people, one JSON value
 * per line with --json for programs. Results go to stdout; prompts, progress and errors to stderr.
 *
 * @example
 * print(table(['NAME', 'KIND'], [['general', 'public']]));
 * printJson({ seq: 12 });
 */
import type { Message } from '../../shared/api.js';

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** A notice for the person at the terminal (never part of the command's output). */
export function note(text: string): void {
  process.stderr.write(text + '\n');
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

/** Control characters other than newline and tab could move the cursor or recolour the terminal. */
export function safeText(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '\uFFFD');
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
