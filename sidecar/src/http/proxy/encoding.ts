/**
 * Content-coding negotiation: which of the codings we produce (brotli, gzip)
 * a client asked for in Accept-Encoding, honouring q-values (RFC 9110 §12.5.3).
 */

/** The codings the front door can produce; "identity" means "send it as it is". */
export type Coding = 'br' | 'gzip' | 'identity';

/** Compressed codings in our order of preference when the client weighs them equally. */
const PRODUCED: readonly Exclude<Coding, 'identity'>[] = ['br', 'gzip'];

/** Parsed header values, remembered: browsers send the same few strings over and over. */
const memo = new Map<string, Coding>();
const MEMO_LIMIT = 64;

/**
 * The best coding for this Accept-Encoding value: the one with the highest
 * q-value among those we produce, brotli on a tie, identity when the client
 * accepts neither (a missing header means identity too: we never guess).
 */
export function negotiate(acceptEncoding: string | undefined): Coding {
  if (!acceptEncoding) {
    return 'identity';
  }
  const known = memo.get(acceptEncoding);
  if (known !== undefined) {
    return known;
  }
  const chosen = choose(acceptEncoding);
  if (memo.size >= MEMO_LIMIT) {
    memo.clear(); // odd clients could send endless variants; a small, reset memo is enough
  }
  memo.set(acceptEncoding, chosen);
  return chosen;
}

function choose(header: string): Coding {
  const weights = new Map<string, number>();
  for (const element of header.split(',')) {
    const [rawName, ...params] = element.split(';');
    const name = rawName.trim().toLowerCase();
    if (!name) {
      continue;
    }
    let q = 1;
    for (const param of params) {
      const [key, value] = param.split('=').map(s => s.trim());
      if (key.toLowerCase() === 'q') {
        const parsed = Number(value);
        // A malformed q-value makes the element unusable rather than fully preferred.
        q = Number.isFinite(parsed) && parsed >= 0 && parsed <= 1 ? parsed : 0;
      }
    }
    // "x-gzip" is the historical alias RFC 9110 asks recipients to treat as gzip.
    weights.set(name === 'x-gzip' ? 'gzip' : name, q);
  }
  const wildcard = weights.get('*');
  let best: Coding = 'identity';
  let bestQ = 0;
  for (const coding of PRODUCED) {
    const q = weights.get(coding) ?? wildcard ?? 0;
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  return best;
}
