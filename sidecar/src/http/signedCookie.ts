import { createHmac, timingSafeEqual } from 'node:crypto';

/** tornado's default for get_secure_cookie (Jupyter does not change it). */
export const LOGIN_COOKIE_MAX_AGE_DAYS = 31;

/**
 * Jupyter's login cookie name for a Host header, as jupyter_server's
 * IdentityProvider.get_cookie_name makes it ("username-" + host, every
 * character that is not a letter or digit turned into "-").
 */
export function loginCookieName(host: string): string {
  return `username-${host}`.replace(/[^A-Za-z0-9]/g, '-');
}

/** A cookie value as Python's http.cookies writes it: quoted (with octal escapes) when it holds characters like "=" or "/". */
export function unquoteCookie(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) {
    return value;
  }
  return value.slice(1, -1).replace(/\\([0-3][0-7][0-7]|.)/g, (_m, esc: string) => (esc.length === 3 ? String.fromCharCode(parseInt(esc, 8)) : esc));
}

/**
 * Verifies a tornado signed value (format version 2: HMAC-SHA256 over
 * "2|len:key_version|len:timestamp|len:name|len:value|") with `secret`, the
 * way tornado's decode_signed_value_v2 does, and returns the decoded value,
 * or null when the signature, the name or the age is wrong. The sidecar needs
 * this while Jupyter is stopped for inactivity: only the user may press Start.
 */
export function decodeSignedValueV2(secret: Buffer, name: string, value: string, nowMs: number, maxAgeDays = LOGIN_COOKIE_MAX_AGE_DAYS): string | null {
  if (!value.startsWith('2|')) {
    return null;
  }
  let rest = value.slice(2);
  const fields: string[] = [];
  for (let i = 0; i < 4; i++) {
    const colon = rest.indexOf(':');
    if (colon <= 0 || !/^\d+$/.test(rest.slice(0, colon))) {
      return null;
    }
    const n = Number(rest.slice(0, colon));
    const field = rest.slice(colon + 1, colon + 1 + n);
    if (field.length !== n || rest[colon + 1 + n] !== '|') {
      return null;
    }
    fields.push(field);
    rest = rest.slice(colon + 2 + n);
  }
  const [, timestamp, nameField, valueField] = fields;
  const passed = Buffer.from(rest);
  const signed = value.slice(0, value.length - rest.length);
  const expected = Buffer.from(createHmac('sha256', secret).update(signed, 'utf8').digest('hex'));
  if (passed.length !== expected.length || !timingSafeEqual(passed, expected)) {
    return null;
  }
  if (nameField !== name || !/^\d+$/.test(timestamp)) {
    return null;
  }
  if (Number(timestamp) < nowMs / 1000 - maxAgeDays * 86400) {
    return null;
  }
  return Buffer.from(valueField, 'base64').toString('utf8');
}
