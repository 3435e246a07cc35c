/**
 * Search snippets as plain-text segments. Postgres's ts_headline marks the matched words with
 * StartSel/StopSel strings; we choose two control characters no snippet can contain (they are
 * replaced in the body before ts_headline sees it) and split on them here, so a body holding
 * `<b>` or a marker of its own can never forge a highlight, and nothing is ever HTML.
 *
 * ts_headline also drops whatever its parser takes for an HTML tag (`<b>` would vanish from the
 * snippet), so `<` is handed to it as a third control character and turned back here: the
 * snippet shows the words as they were written.
 */
import type { SnippetSegment } from '../../shared/api.js';

export const START_SEL = '\u0001';
export const STOP_SEL = '\u0002';
const LESS_THAN = '\u0003';

/** translate(body, BODY_FROM, BODY_TO): our three control characters become spaces, `<` becomes LESS_THAN. */
export const BODY_FROM = `${START_SEL}${STOP_SEL}${LESS_THAN}<`;
export const BODY_TO = `   ${LESS_THAN}`;

/** The ts_headline options: our markers, and a fragment of about a sentence around the matches. */
export const HEADLINE_OPTIONS = `StartSel=${START_SEL}, StopSel=${STOP_SEL}, MinWords=10, MaxWords=30, MaxFragments=2, FragmentDelimiter=" … "`;

/**
 * Splits ts_headline output into segments; adjacent matches separated only by nothing are kept
 * apart (each is its own word), empty texts are dropped.
 * @example
 * toSegments('say \u0001hello\u0002 there') // [{text: 'say ', match: false}, {text: 'hello', match: true}, {text: ' there', match: false}]
 */
export function toSegments(headline: string): SnippetSegment[] {
  const out: SnippetSegment[] = [];
  let inside = false;
  let text = '';
  const flush = () => {
    if (text) out.push({ text, match: inside });
    text = '';
  };
  for (const ch of headline) {
    if (ch === START_SEL) {
      flush();
      inside = true;
    } else if (ch === STOP_SEL) {
      flush();
      inside = false;
    } else {
      text += ch === LESS_THAN ? '<' : ch;
    }
  }
  flush();
  return out;
}
