import { Logger } from './log';

/**
 * What start-up built, undone in reverse: each part registers how to undo
 * itself the moment it is built, and close() and every start-up that fails
 * half way run this one list, so the two can never differ.
 */
export class Teardown {
  private readonly steps: Array<{ name: string; undo: () => void | Promise<void> }> = [];
  private done: Promise<void> | null = null;

  constructor(private readonly log: Logger) {}

  /** How to undo what was just built. */
  add(name: string, undo: () => void | Promise<void>): void {
    this.steps.push({ name, undo });
  }

  /** Undoes everything, last built first; a step that fails is logged and the rest still run. Once only: a second call waits for the first. */
  run(): Promise<void> {
    this.done ??= this.runAll();
    return this.done;
  }

  private async runAll(): Promise<void> {
    for (const { name, undo } of this.steps.reverse()) {
      try {
        await undo();
      } catch (err) {
        this.log.warn('a teardown step failed', { step: name, error: (err as Error)?.message ?? String(err) });
      }
    }
  }
}
