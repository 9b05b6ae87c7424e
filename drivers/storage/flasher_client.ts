// Clients that flash: upstream's FlasherClient (flash/dump a partition) and
// StorageMuxFlasherClient (a storage mux that flashes as host, write, dut in one step).

import { DriverClient, type Verb } from "../framework/mod.ts";
import { StorageMuxClient } from "./client.ts";
import {
  downloadImage,
  uploadImage,
  type UploadOptions,
  type UploadResult,
} from "./image_transfer.ts";
import { readVerb, writeVerb } from "./image_verbs.ts";
import type { WriteResult } from "./storage_mux.ts";

/**
 * A flasher: images go into partitions of the board's storage.
 *
 * @example
 * ```ts
 * await flasher.flash("firmware.img.xz", { partition: "boot" });
 * await flasher.dump("boot-backup.img", { partition: "boot" });
 * ```
 */
export class FlasherClient extends DriverClient {
  /**
   * Flashes `image` (a file path, compressed ones travelling compressed when the exporter
   * accepts it, or plain bytes) into `partition` (the driver's default when not given).
   */
  flash(
    image: string | AsyncIterable<Uint8Array>,
    options: UploadOptions & { partition?: string } = {},
  ): Promise<UploadResult> {
    const partition = options.partition ?? null;
    return uploadImage(
      this,
      image,
      { sparse: false },
      (_route, handle) => this.call("flash", handle, partition),
      options,
    );
  }

  /** Dumps `partition` into file `path`, checked against the exporter's SHA-256. */
  dump(
    path: string,
    options: { partition?: string; signal?: AbortSignal; onProgress?: (b: number) => void } = {},
  ): Promise<WriteResult> {
    const partition = options.partition ?? null;
    return downloadImage(this, path, (handle) => this.call("dump", handle, partition), options);
  }

  override verbs(): Verb[] {
    return [
      writeVerb(
        "flash",
        "Flash an image file into the board (--partition to pick one)",
        (image, options, partition) => this.flash(image, { ...options, partition }),
        { partition: true },
      ),
      readVerb(
        "dump",
        "Dump the board's image into a local file (--partition to pick one)",
        (file, options, partition) => this.dump(file, { ...options, partition }),
        { partition: true },
      ),
    ];
  }
}

/**
 * A storage mux that also flashes: `flash(image)` connects the disk to the host, writes the
 * image and connects it to the board.
 */
export class StorageMuxFlasherClient extends StorageMuxClient {
  /** Host, write, dut: the image is on the board's disk when this resolves. */
  async flash(
    image: string | AsyncIterable<Uint8Array>,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    await this.host();
    const result = await this.write(image, options);
    await this.dut();
    return result;
  }

  override verbs(): Verb[] {
    return [
      ...super.verbs(),
      writeVerb(
        "flash",
        "Write an image file to the disk and connect it to the board",
        (image, options) => this.flash(image, options),
      ),
    ];
  }
}
