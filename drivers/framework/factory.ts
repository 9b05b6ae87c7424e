// How a driver type builds an instance from its `config:` mapping in the exporter config.

import type { Fields } from "../../config/mod.ts";
import type { Driver, DriverLog } from "./driver.ts";

/** What a driver factory knows about the export it builds. */
export interface DriverContext {
  /** The export key (`power`, `serial`, ...), also the `jumpstarter.dev/name` label. */
  readonly name: string;
  /** The YAML path of the export (`export.power`, `export.board.children.serial`). */
  readonly path: string;
  /** The configuration file, for messages. */
  readonly file: string;
  /** The file's folder: relative paths in a driver's config are resolved from here. */
  readonly baseDir: string;
  /** The already built children (`children:` in the config). */
  readonly children: Readonly<Record<string, Driver>>;
  /** The driver's log. */
  readonly log: DriverLog;
}

/**
 * Builds a driver from its config. Reads what it needs from `config` (a {@linkcode Fields});
 * keys it does not read are reported to the user as unknown after it returns.
 *
 * @example
 * ```ts
 * const createLamp: DriverFactory = (config) => lamp(config.string("gpio"));
 * ```
 */
export type DriverFactory = (config: Fields, ctx: DriverContext) => Driver | Promise<Driver>;
