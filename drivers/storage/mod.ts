// Storage muxes and flashers: switch a disk between host and board, write images to it (or to a
// board's partitions) with a checksum, read them back.

export {
  createMockStorageMux,
  createMockStorageMuxFlasher,
  createStorageMux,
  type MuxState,
  STORAGE_MUX_CLIENT,
  STORAGE_MUX_FLASHER_CLIENT,
  type WriteResult,
} from "./storage_mux.ts";
export { createMockFlasher, FLASHER_CLIENT } from "./flasher.ts";
export { StorageMuxClient } from "./client.ts";
export { FlasherClient, StorageMuxFlasherClient } from "./flasher_client.ts";
export {
  ChecksumMismatchError,
  openImage,
  type Route,
  type UploadOptions,
  type UploadResult,
} from "./image_transfer.ts";
export { type Bmap, BmapChecksumError, BmapError, findBmap, parseBmap } from "./bmap.ts";
export { formatBytes, Progress } from "./progress.ts";
