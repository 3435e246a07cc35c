import { describe, expect, it } from 'vitest';
import { insertMention, mentionAt } from './mention-query.js';

describe('mention autocomplete', () => {
  it('finds the @name being typed at the caret, only at a word start', () => {
    expect(mentionAt('hi @bo', 6)).toEqual({ start: 3, query: 'bo' });
    expect(mentionAt('@', 1)).toEqual({ start: 0, query: '' });
    expect(mentionAt('mail a@bo', 9)).toBeNull();
    expect(mentionAt('hi @bob there', 13)).toBeNull();
    expect(mentionAt('hi @Bob there', 7)).toEqual({ start: 3, query: 'bob' });
  });

  it('puts the username in place of the query, with a space after it', () => {
    expect(insertMention('hi @bo and', 3, 6, 'bob')).toEqual({ text: 'hi @bob  and', caret: 8 });
  });
});
