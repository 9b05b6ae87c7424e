// Storage muxes: switch a disk between host and board, write images to it with a checksum.

export {
  createMockStorageMux,
  createStorageMux,
  type MuxState,
  STORAGE_MUX_CLIENT,
  type WriteResult,
} from "./storage_mux.ts";
export { ChecksumMismatchError, openImage, StorageMuxClient } from "./client.ts";
export { formatBytes, Progress } from "./progress.ts";
