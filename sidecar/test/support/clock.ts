import type { Clock } from '../../src/quota/ledger';

/** Wall and monotonic time that move only when told, and apart when told. */
export class FakeClock implements Clock {
  mono = 5_000;
  constructor(public wall: number) {}
  wallMs(): number {
    return this.wall;
  }
  monoMs(): number {
    return this.mono;
  }
  /** Real time passing: both clocks move. */
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}
