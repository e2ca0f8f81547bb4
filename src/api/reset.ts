import { RESET_CONFIRMATION } from '@jupyterlab-gpu-workspace/api';
import type { ResetResponse, ResetStatusResponse, ResetUndoResponse } from '@jupyterlab-gpu-workspace/api';
import type { IWorkspaceRequester } from '../tokens';

/** Reset Data's requests. */
export class ResetClient {
  constructor(private readonly requester: IWorkspaceRequester) {}

  status(): Promise<ResetStatusResponse> {
    return this.requester.call('GET /reset');
  }

  /** Sent only once the user typed the confirmation: the words go as the sidecar requires them. */
  reset(): Promise<ResetResponse> {
    return this.requester.call('POST /reset', { body: { confirm: RESET_CONFIRMATION } });
  }

  undo(snapshotId: string): Promise<ResetUndoResponse> {
    return this.requester.call('POST /reset/undo', { body: { snapshot_id: snapshotId } });
  }
}
