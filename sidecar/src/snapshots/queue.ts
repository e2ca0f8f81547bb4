/**
 * Runs the repository's operations one at a time, in the order asked: a
 * second snapshot requested while one runs waits for it, so restic never
 * works on the repository twice at once from this sidecar.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** How many operations run or wait. */
  get length(): number {
    return this.waiting;
  }

  run<T>(operation: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(operation, operation);
    // The chain goes on whatever one operation's outcome was.
    this.tail = result.then(
      () => undefined,
      () => undefined
    );
    return result.finally(() => {
      this.waiting--;
    });
  }
}
