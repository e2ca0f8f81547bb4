/**
 * A run's output as the log panel reads it: appended text with offsets that
 * keep counting from the run's start, of which only the last `maxChars` are
 * kept (a hook that prints forever must not grow the sidecar without bound).
 */
export class OutputLog {
  private chunks: string[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly maxChars: number) {}

  /** Offset just past the last character written. */
  get end(): number {
    return this.dropped + this.kept;
  }

  append(chunk: string): void {
    if (!chunk) {
      return;
    }
    this.chunks.push(chunk);
    this.kept += chunk.length;
    if (this.kept > this.maxChars * 1.25) {
      // Trimming in steps keeps appends cheap; the log holds between max and 1.25 max.
      const all = this.chunks.join('');
      const cut = all.length - this.maxChars;
      this.chunks = [all.slice(cut)];
      this.kept -= cut;
      this.dropped += cut;
    }
  }

  /** Everything kept. */
  text(): string {
    return this.chunks.join('');
  }

  /** The text from offset `since` on, and where it starts (later than `since` when that part was dropped). */
  since(since: number): { text: string; start: number } {
    const start = Math.max(since, this.dropped);
    const text = this.text();
    return { text: text.slice(Math.min(start - this.dropped, text.length)), start: Math.min(start, this.end) };
  }
}
