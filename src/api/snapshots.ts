import type { HomeUsageResponse, RestoreHomeResponse, RestoreResponse, SnapshotCreated, SnapshotFilesResponse, SnapshotListResponse, TrashEmptied } from '@jupyterlab-gpu-workspace/api';
import type { IWorkspaceRequester } from '../tokens';

/** The home's usage and its snapshots: the Snapshots dialog's requests. */
export class SnapshotsClient {
  constructor(private readonly requester: IWorkspaceRequester) {}

  usage(): Promise<HomeUsageResponse> {
    return this.requester.call('GET /home/usage');
  }

  emptyTrash(): Promise<TrashEmptied> {
    return this.requester.call('POST /home/trash/empty', { body: {} });
  }

  list(): Promise<SnapshotListResponse> {
    return this.requester.call('GET /snapshots');
  }

  create(): Promise<SnapshotCreated> {
    return this.requester.call('POST /snapshots', { body: {} });
  }

  /** The entries of one folder (relative to the home; '' for the home itself) as the snapshot holds it. */
  files(id: string, path: string): Promise<SnapshotFilesResponse> {
    return this.requester.call('GET /snapshots/:id/files', { params: { id }, query: { path } });
  }

  /** Brings one file or folder back beside the current one (never over it). */
  restore(id: string, path: string): Promise<RestoreResponse> {
    return this.requester.call('POST /snapshots/:id/restore', { params: { id }, body: { path } });
  }

  /** Where the browser downloads the whole home as a zip (the login cookie authenticates the GET). */
  archiveUrl(): string {
    return this.requester.url('GET /home/archive');
  }

  restoreHome(id: string): Promise<RestoreHomeResponse> {
    return this.requester.call('POST /snapshots/:id/restore-home', { params: { id }, body: {} });
  }
}
