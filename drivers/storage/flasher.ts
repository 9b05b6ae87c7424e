// Flashers (upstream's jumpstarter_driver_opendal flasher family): write an image into a
// partition of the board's storage, or dump one back. MockFlasher keeps each partition in a
// temporary file, which is what tests and demos need.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Fields } from "../../config/mod.ts";
import {
  Args,
  type CallContext,
  type Driver,
  type DriverContext,
  DriverError,
  InvalidArgumentError,
  unary,
} from "../framework/mod.ts";
import { readImage, sequential, writeImage } from "./storage_mux.ts";

/** The client class name upstream reports for flashers. */
export const FLASHER_CLIENT = "jumpstarter_driver_opendal.client.FlasherClient";

const PARTITION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** `type: MockFlasher`: partitions (`default` when none is named) kept in temporary files. */
export function createMockFlasher(_config: Fields, ctx: DriverContext): Driver {
  const dir = mkdtempSync(join(tmpdir(), `jmp-mock-flasher-${ctx.name}-`));
  const flashed = new Set<string>();
  const partitionFile = (method: string, args: Args) => {
    const partition = args.string(1, "partition", "default");
    if (!PARTITION_NAME.test(partition)) {
      throw new InvalidArgumentError(
        `${method}: partition "${partition}" is not a name (letters, digits, . _ -)`,
      );
    }
    return { partition, file: join(dir, `${partition}.img`) };
  };
  return {
    client: FLASHER_CLIENT,
    description: "Mock flasher (partitions in temporary files)",
    methods: {
      flash: unary(
        "Flash a streamed image into a partition: flash(source, partition=None)",
        async (args, call: CallContext) => {
          const a = new Args("flash", args, 2);
          const { partition, file } = partitionFile("flash", a);
          if (!call.resource) {
            throw new DriverError("flash: this exporter cannot receive resources");
          }
          const result = await writeImage(file, sequential(call.resource(a.raw(0))));
          flashed.add(partition);
          call.log.info(`flashed ${result.bytes} bytes into ${partition}`);
          return result;
        },
      ),
      dump: unary(
        "Dump a partition into a resource: dump(target, partition=None)",
        (args, call) => {
          const a = new Args("dump", args, 2);
          const { partition, file } = partitionFile("dump", a);
          if (!flashed.has(partition)) {
            throw new InvalidArgumentError(`dump: partition ${partition} was never flashed`);
          }
          return readImage(file, a.raw(0), call);
        },
      ),
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
