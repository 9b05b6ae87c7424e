// Client of storage muxes (upstream's StorageMuxClient): switch the disk, write an image with
// constant memory, and check the exporter's SHA-256 of what arrived against the local one.

import { DriverClient, type Verb } from "../framework/mod.ts";
import {
  downloadImage,
  uploadImage,
  type UploadOptions,
  type UploadResult,
} from "./image_transfer.ts";
import { readVerb, writeVerb } from "./image_verbs.ts";
import type { WriteResult } from "./storage_mux.ts";

/**
 * A disk switched between the exporter host and the board.
 *
 * @example
 * ```ts
 * await storage.host();
 * await storage.write("disk.img");
 * await storage.dut();
 * ```
 */
export class StorageMuxClient extends DriverClient {
  /** Connects the disk to the exporter host. */
  async host(): Promise<void> {
    await this.call("host");
  }

  /** Connects the disk to the board. */
  async dut(): Promise<void> {
    await this.call("dut");
  }

  /** Disconnects the disk. */
  async off(): Promise<void> {
    await this.call("off");
  }

  /**
   * Writes `image` (a file path, `.gz`/`.zst`/`.xz` decompressed on the way, or plain bytes as
   * they come) to the disk, the cheapest way the exporter allows (see `uploadImage`); resolves
   * with what the exporter wrote once its SHA-256 matched the local one.
   */
  write(
    image: string | AsyncIterable<Uint8Array>,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    return uploadImage(
      this,
      image,
      { sparse: "write_sparse" in this.methodsDescription },
      (route, handle) =>
        route === "bmap"
          ? this.call("write_sparse", handle, true)
          : this.call(route === "sparse" ? "write_sparse" : "write", handle),
      options,
    );
  }

  /**
   * Reads the disk back into file `path` (written beside it and renamed when complete); resolves
   * once the local SHA-256 matched the exporter's.
   */
  read(
    path: string,
    options: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {},
  ): Promise<WriteResult> {
    return downloadImage(this, path, (handle) => this.call("read", handle), options);
  }

  override verbs(): Verb[] {
    const simple = (name: "host" | "dut" | "off", summary: string): Verb => ({
      name,
      summary: this.methodsDescription[name] ?? summary,
      usage: "",
      run: async (_args, io) => {
        await this[name]();
        io.stdout(`storage: ${name}\n`);
      },
    });
    return [
      simple("host", "Connect the disk to the exporter host"),
      simple("dut", "Connect the disk to the board"),
      simple("off", "Disconnect the disk"),
      readVerb(
        "read",
        "Read the disk back into a local file (switch it to the host first)",
        (file, options) => this.read(file, options),
      ),
      writeVerb(
        "write",
        "Write an image file to the disk (switch it to the host first)",
        (image, options) => this.write(image, options),
      ),
    ];
  }
}
