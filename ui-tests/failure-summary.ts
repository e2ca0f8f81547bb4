import type { FullResult, Reporter, TestCase, TestResult } from '@playwright/test/reporter';

/**
 * One short block per failed test, printed last: CI shows only the end of
 * the output, and the list reporter's error text sits above the screenshot
 * and trace attachments, where it is cut off.
 */
export default class FailureSummary implements Reporter {
  private failures: string[] = [];

  onTestEnd(test: TestCase, result: TestResult): void {
    if (result.status === 'passed' || result.status === 'skipped') {
      return;
    }
    const error = (result.error?.message ?? result.status).replace(/\x1b\[[0-9;]*m/g, '');
    const where = result.error?.location ? ` (${result.error.location.file.split('/').pop()}:${result.error.location.line})` : '';
    this.failures.push(`✘ ${test.titlePath().slice(1).join(' › ')}${where}\n    ${error.split('\n').slice(0, 6).join('\n    ')}`);
  }

  onEnd(_result: FullResult): void {
    if (this.failures.length) {
      console.log(`\nWhat failed, in short:\n${this.failures.join('\n')}`);
    }
  }

  printsToStdio(): boolean {
    return true;
  }
}
