/** The request kinds a provider bills separately. */
export const REQUEST_KINDS = ["list", "get", "head", "put", "delete"] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type RequestCounts = Record<RequestKind, number>;

const KIND_BY_COMMAND: Record<string, RequestKind> = {
  ListObjectsV2Command: "list",
  ListObjectsCommand: "list",
  ListBucketsCommand: "list",
  GetObjectCommand: "get",
  HeadObjectCommand: "head",
  HeadBucketCommand: "head",
  PutObjectCommand: "put",
  CreateBucketCommand: "put",
  CopyObjectCommand: "put",
  DeleteObjectsCommand: "delete",
  DeleteObjectCommand: "delete",
};

/** Maps an SDK command name to the billing kind; unknown commands count as `get`, the cheapest class. */
export function requestKindOfCommand(commandName: string): RequestKind {
  return KIND_BY_COMMAND[commandName] ?? "get";
}

/** Counts every HTTP request sent, retries included, since each one is billed; and bytes downloaded. */
export class RequestCounter {
  readonly counts: RequestCounts = { list: 0, get: 0, head: 0, put: 0, delete: 0 };
  bytesDownloaded = 0;

  record(kind: RequestKind): void {
    this.counts[kind] += 1;
  }

  addDownloaded(bytes: number): void {
    this.bytesDownloaded += bytes;
  }

  snapshot(): RequestCounts & { total: number } {
    const total = REQUEST_KINDS.reduce((sum, kind) => sum + this.counts[kind], 0);
    return { ...this.counts, total };
  }
}
