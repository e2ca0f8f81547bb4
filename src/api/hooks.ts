import type { HookRunListResponse, HookRunResponse } from '@jupyterlab-gpu-workspace/api';
import type { IWorkspaceRequester } from '../tokens';

/** The hook log panel's requests. */
export class HooksClient {
  constructor(private readonly requester: IWorkspaceRequester) {}

  runs(): Promise<HookRunListResponse> {
    return this.requester.call('GET /hooks/runs');
  }

  /** One run's output from `since` (an earlier answer's output_end) on. */
  run(id: string, since = 0): Promise<HookRunResponse> {
    return this.requester.call('GET /hooks/runs/:id', { params: { id }, query: { since } });
  }
}
