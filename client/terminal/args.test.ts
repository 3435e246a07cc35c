import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './args.js';

describe('parseCommandLine', () => {
  it('takes the command, its arguments and options', () => {
    expect(parseCommandLine(['send', '--id', 'x1', 'general', 'hello', 'there', '--json'])).toEqual({
      command: 'send',
      args: ['general', 'hello', 'there'],
      options: { id: 'x1', json: true },
      json: true,
    });
    expect(parseCommandLine(['send', 'general', '-']).args).toEqual(['general', '-']);
    expect(parseCommandLine(['send', 'general', '--', '-1 is odd']).args).toEqual(['general', '-1 is odd']);
    expect(parseCommandLine([]).command).toBe('help');
    expect(parseCommandLine(['tail', '--help']).command).toBe('help');
  });

  it('refuses unknown commands and options (no --password) and wrong argument counts, with exit status 2', () => {
    for (const argv of [['nope'], ['login', '--password', 'pw'], ['tail'], ['tail', 'a', 'b'], ['send', 'general'], ['channels', 'x']]) {
      expect(() => parseCommandLine(argv), argv.join(' ')).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
  });
});
