import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastOutputLine, terminalToLog } from '../../src/terminalText';

describe('terminal output as a log', () => {
  it('keeps colour codes and turns CRLF into line breaks', () => {
    assert.equal(terminalToLog('\x1b[31mred\x1b[0m\r\nnext\r\n'), '\x1b[31mred\x1b[0m\nnext\n');
  });

  it('shows the last write of a line rewritten with carriage returns', () => {
    assert.equal(terminalToLog('10%\r50%\r100%\r\ndone'), '100%\ndone');
    assert.equal(terminalToLog('downloading 10%\rok'), 'okwnloading 10%');
  });

  it('drops cursor moves, erase-line and title sequences', () => {
    assert.equal(terminalToLog('\x1b[?25lhidden cursor\x1b[K\x1b]0;title\x07 text\x1b[2J'), 'hidden cursor text');
  });
});

describe('the last line a hook printed', () => {
  it('is plain text: no colours, no blank lines, the last write of a rewritten line', () => {
    assert.equal(lastOutputLine('[NbConvertApp] Converting notebook p.ipynb to html\r\n\x1b[32m[NbConvertApp] Writing 2 bytes\x1b[0m\r\n\r\n'), '[NbConvertApp] Writing 2 bytes');
    assert.equal(lastOutputLine('10%\r55%'), '55%');
    assert.equal(lastOutputLine(''), '');
  });

  it('is cut to fit a notification', () => {
    assert.equal(lastOutputLine('x'.repeat(300), 10), `${'x'.repeat(9)}…`);
  });
});
