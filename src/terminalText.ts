/** Escape sequences other than colours (SGR, `ESC[…m`): cursor moves, erase line, title, mode switches. */
const NON_COLOUR_ESCAPES = /\x1b\[[0-9;?]*[A-La-ln-zA-Z@`]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>]/g;

/**
 * A pseudo-terminal's output as a log shows it: CRLF becomes a line break, a
 * line rewritten with carriage returns (progress bars) keeps what was
 * written last, and only colour codes remain for the ANSI renderer.
 */
export function terminalToLog(raw: string): string {
  const text = raw.replace(NON_COLOUR_ESCAPES, '').replace(/\r+\n/g, '\n');
  return text
    .split('\n')
    .map(line => {
      const parts = line.split('\r');
      // "50%\r100%": the terminal shows the last write over the earlier ones.
      let shown = '';
      for (const part of parts) {
        shown = part + shown.slice(visibleLength(part) > 0 ? part.length : 0);
      }
      return shown;
    })
    .join('\n');
}

function visibleLength(s: string): number {
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** Colour codes too: for one line of plain text. */
const COLOURS = /\x1b\[[0-9;]*m/g;

/**
 * The last line a program printed, as plain text of at most `max`
 * characters: what a progress notification shows while a hook runs.
 */
export function lastOutputLine(raw: string, max = 120): string {
  const lines = terminalToLog(raw)
    .replace(COLOURS, '')
    .split('\n')
    .map(l => l.trim())
    .filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  return last.length > max ? `${last.slice(0, max - 1)}…` : last;
}
