// Maps `type:` in an exporter config to a driver factory: built-in drivers by short name or by
// upstream's Python type name, anything else as a module specifier loaded with import().
// Built-in loaders are written out one by one so that bundlers see and include them.

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError, didYouMean } from "../config/mod.ts";
import type { DriverClientClass, DriverFactory } from "./framework/mod.ts";

/** A built-in driver type. */
export interface BuiltInDriverType {
  /** The short name first, then upstream's type names that mean the same driver. */
  readonly names: readonly string[];
  /** One line for listings. */
  readonly summary: string;
  readonly load: () => Promise<DriverFactory>;
}

/** Every built-in driver type. */
export const BUILT_IN_TYPES: readonly BuiltInDriverType[] = [
  {
    names: ["Composite", "jumpstarter_driver_composite.driver.Composite"],
    summary: "groups child drivers",
    load: async () => (await import("./composite/mod.ts")).createComposite,
  },
  {
    names: [
      "MockPower",
      "jumpstarter_driver_power.driver.MockPower",
      "jumpstarter_driver_power.driver.SyncMockPower",
    ],
    summary: "a simulated power switch",
    load: async () => (await import("./power/mod.ts")).createMockPower,
  },
  {
    names: ["CommandPower"],
    summary: "power switched by configured shell commands (relay tools, uhubctl, ...)",
    load: async () => (await import("./power/mod.ts")).createCommandPower,
  },
  {
    names: ["HttpPower"],
    summary: "power switched through an HTTP-controlled PDU",
    load: async () => (await import("./power/mod.ts")).createHttpPower,
  },
  {
    names: ["PySerial", "Serial", "jumpstarter_driver_pyserial.driver.PySerial"],
    summary: "a serial console (tty)",
    load: async () => (await import("./serial/mod.ts")).createSerial,
  },
  {
    names: ["TcpNetwork", "jumpstarter_driver_network.driver.TcpNetwork"],
    summary: "a TCP port reachable from the exporter",
    load: async () => (await import("./network/mod.ts")).createTcpNetwork,
  },
  {
    names: ["UdpNetwork", "jumpstarter_driver_network.driver.UdpNetwork"],
    summary: "a UDP port reachable from the exporter",
    load: async () => (await import("./network/mod.ts")).createUdpNetwork,
  },
  {
    names: ["UnixNetwork", "jumpstarter_driver_network.driver.UnixNetwork"],
    summary: "a Unix socket on the exporter host",
    load: async () => (await import("./network/mod.ts")).createUnixNetwork,
  },
  {
    names: ["EchoNetwork", "jumpstarter_driver_network.driver.EchoNetwork"],
    summary: "echoes every byte (for tests)",
    load: async () => (await import("./network/mod.ts")).createEchoNetwork,
  },
  {
    names: ["MockStorageMux", "jumpstarter_driver_opendal.driver.MockStorageMux"],
    summary: "a simulated storage mux (a temporary image file)",
    load: async () => (await import("./storage/mod.ts")).createMockStorageMux,
  },
  {
    names: ["MockStorageMuxFlasher", "jumpstarter_driver_opendal.driver.MockStorageMuxFlasher"],
    summary: "a simulated storage mux whose client also flashes (host, write, dut)",
    load: async () => (await import("./storage/mod.ts")).createMockStorageMuxFlasher,
  },
  {
    names: ["MockFlasher", "jumpstarter_driver_opendal.driver.MockFlasher"],
    summary: "a simulated flasher (partitions in temporary files)",
    load: async () => (await import("./storage/mod.ts")).createMockFlasher,
  },
  {
    names: ["StorageMux"],
    summary: "a storage mux writing a block device or image file, switched by commands",
    load: async () => (await import("./storage/mod.ts")).createStorageMux,
  },
  {
    names: ["Shell", "jumpstarter_driver_shell.driver.Shell"],
    summary: "runs configured commands on the exporter host",
    load: async () => (await import("./shell/mod.ts")).createShell,
  },
];

const BY_NAME = new Map(BUILT_IN_TYPES.flatMap((t) => t.names.map((name) => [name, t])));

// A type that names a module: a path, a URL or a package specifier, optionally `#export`.
const MODULE_TYPE = /^(\.{1,2}\/|\/|file:|https?:|npm:|jsr:)|#/;

/** Where a `type:` was written, for error messages. */
export interface TypeSource {
  file: string;
  /** YAML path of the `type` key. */
  path: string;
  /** Relative module paths are resolved from here (the config file's folder). */
  baseDir: string;
}

/**
 * The factory of driver type `type`. Module types are `SPECIFIER#EXPORT` (export `default`
 * when no `#` is given), e.g. `./drivers/relay.ts#createRelay` or `npm:jmp-relay#createRelay`.
 *
 * @example
 * ```ts
 * const factory = await resolveDriverType("MockPower", { file, path: "export.power.type", baseDir });
 * ```
 */
export async function resolveDriverType(type: string, where: TypeSource): Promise<DriverFactory> {
  const builtIn = BY_NAME.get(type);
  if (builtIn) return await builtIn.load();
  if (!MODULE_TYPE.test(type)) {
    throw new ConfigError(
      where.file,
      where.path,
      `unknown driver type "${type}"${didYouMean(type, [...BY_NAME.keys()])}; built-in types: ${
        BUILT_IN_TYPES.map((t) => t.names[0]).join(", ")
      }, or a module as ./file.ts#export`,
    );
  }
  return await importFactory(type, where);
}

async function importFactory(type: string, where: TypeSource): Promise<DriverFactory> {
  const hash = type.lastIndexOf("#");
  const specifier = hash >= 0 ? type.slice(0, hash) : type;
  const exportName = hash >= 0 ? type.slice(hash + 1) : "default";
  const url = specifier.startsWith(".") || isAbsolute(specifier)
    ? pathToFileURL(resolve(where.baseDir, specifier)).href
    : specifier;
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new ConfigError(where.file, where.path, `cannot import driver module ${url}: ${reason}`);
  }
  const factory = module[exportName];
  if (typeof factory !== "function") {
    const exported = Object.keys(module).filter((k) => typeof module[k] === "function");
    throw new ConfigError(
      where.file,
      where.path,
      `${url} has no function export "${exportName}"${
        exported.length ? ` (it exports ${exported.join(", ")})` : ""
      }`,
    );
  }
  return factory as DriverFactory;
}

/** Built-in client classes by the client name a driver reports. */
export const BUILT_IN_CLIENTS: Readonly<Record<string, () => Promise<DriverClientClass>>> = {
  "jumpstarter_driver_composite.client.CompositeClient": async () =>
    (await import("./composite/client.ts")).CompositeClient,
  "jumpstarter_driver_power.client.PowerClient": async () =>
    (await import("./power/client.ts")).PowerClient,
  "jumpstarter_driver_network.client.NetworkClient": async () =>
    (await import("./network/client.ts")).NetworkClient,
  "jumpstarter_driver_opendal.client.StorageMuxClient": async () =>
    (await import("./storage/client.ts")).StorageMuxClient,
  "jumpstarter_driver_opendal.client.StorageMuxFlasherClient": async () =>
    (await import("./storage/flasher_client.ts")).StorageMuxFlasherClient,
  "jumpstarter_driver_opendal.client.FlasherClient": async () =>
    (await import("./storage/flasher_client.ts")).FlasherClient,
  "jumpstarter_driver_pyserial.client.PySerialClient": async () =>
    (await import("./serial/client.ts")).SerialClient,
  "jumpstarter_driver_shell.client.ShellClient": async () =>
    (await import("./shell/client.ts")).ShellClient,
};

/** True when a type or client name is a module specifier rather than a registered name. */
export function isModuleName(name: string): boolean {
  return MODULE_TYPE.test(name);
}
