/**
 * Structured JSON logs, one object per line on stderr, so operators can ship
 * them as they are. stdout stays free for the human-facing "ready" banner.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function createLogger(
  level: LogLevel = 'info',
  component = 'sidecar',
  write: (line: string) => void = line => process.stderr.write(line + '\n')
): Logger {
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[lvl] < ORDER[level]) {
      return;
    }
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, component, msg, ...fields }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: name => createLogger(level, name, write)
  };
}
