import type { SubmissionListResponse, SubmissionReceipt, SubmitChecklist } from '@jupyterlab-gpu-workspace/api';
import type { IWorkspaceRequester } from '../tokens';

/** Submit Project's requests: the checklist, the submission, the list of past ones and a retry of a failed delivery. */
export class SubmitClient {
  constructor(private readonly requester: IWorkspaceRequester) {}

  checklist(): Promise<SubmitChecklist> {
    return this.requester.call('GET /submit');
  }

  submit(): Promise<SubmissionReceipt> {
    return this.requester.call('POST /submit', { body: {} });
  }

  list(): Promise<SubmissionListResponse> {
    return this.requester.call('GET /submissions');
  }

  retry(id: string): Promise<SubmissionReceipt> {
    return this.requester.call('POST /submissions/:id/retry', { params: { id }, body: {} });
  }
}
