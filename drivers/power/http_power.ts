// A PDU switched over HTTP: one request turns an outlet on, one off, an optional one reads the
// meter as JSON. Covers the many PDUs and smart plugs with a plain HTTP API.

import { Buffer } from "node:buffer";
import type { Fields } from "../../config/mod.ts";
import {
  DeviceUnavailableError,
  DriverError,
  type DriverFactory,
  DriverTimeoutError,
  InvalidArgumentError,
  NotImplementedError,
} from "../framework/mod.ts";
import { powerDriver } from "./power_driver.ts";

/** One configured request. */
interface HttpAction {
  method: string;
  path: string;
  body?: string;
  headers: Record<string, string>;
}

function readAction(config: Fields, key: string, defaultMethod: string): HttpAction {
  if (typeof config.raw(key) === "string") {
    return { method: defaultMethod, path: config.string(key), headers: {} };
  }
  const action = config.mapping(key);
  const result = {
    method: action.string("method", { default: defaultMethod }).toUpperCase(),
    path: action.string("path"),
    body: action.optionalString("body"),
    headers: action.stringMap("headers"),
  };
  action.done();
  return result;
}

/**
 * `type: HttpPower`. Config: `url` (base), `on`/`off` (a path, or `{method, path, body,
 * headers}`; POST by default), `read` (optional, GET, answering `{"voltage":..,"current":..}`),
 * `timeout` seconds (10), `username`/`password` (HTTP basic auth).
 *
 * @example
 * ```yaml
 * power:
 *   type: HttpPower
 *   config: { url: "http://pdu.lab:8080", on: /outlets/3/on, off: /outlets/3/off }
 * ```
 */
export const createHttpPower: DriverFactory = (config) => {
  const base = config.string("url", { nonEmpty: true });
  try {
    new URL(base);
  } catch {
    throw config.error("url", `must be an absolute URL such as http://pdu.lab:8080, got "${base}"`);
  }
  if (!config.has("on")) throw config.error("on", "is required");
  if (!config.has("off")) throw config.error("off", "is required");
  const actions = {
    on: readAction(config, "on", "POST"),
    off: readAction(config, "off", "POST"),
    read: config.has("read") ? readAction(config, "read", "GET") : undefined,
  };
  const timeoutSeconds = config.number("timeout", { default: 10, min: 0 });
  const username = config.optionalString("username");
  const password = config.optionalString("password") ?? "";
  const auth: Record<string, string> = username === undefined
    ? {}
    : { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` };

  const request = async (name: string, action: HttpAction, signal: AbortSignal) => {
    const url = new URL(action.path, base);
    const deadline = AbortSignal.timeout(timeoutSeconds * 1000);
    let response: Response;
    try {
      response = await fetch(url, {
        method: action.method,
        headers: { ...auth, ...action.headers },
        body: action.body,
        signal: AbortSignal.any([signal, deadline]),
      });
    } catch (err) {
      if (deadline.aborted) {
        throw new DriverTimeoutError(`${name}: ${url} did not answer within ${timeoutSeconds}s`);
      }
      if (signal.aborted) throw err;
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new DeviceUnavailableError(
        `${name}: cannot reach ${url}: ${cause ?? (err as Error).message}`,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      throw new DriverError(
        `${name}: ${action.method} ${url} answered ${response.status}: ${text.slice(0, 200)}`,
      );
    }
    return text;
  };

  return powerDriver({
    description: `HTTP power switch at ${base}`,
    setPower: async (on, call) => {
      await request(on ? "on" : "off", on ? actions.on : actions.off, call.signal);
    },
    async *read(call) {
      if (!actions.read) {
        throw new NotImplementedError("this power driver has no read request configured");
      }
      const text = await request("read", actions.read, call.signal);
      let reading: { voltage?: unknown; current?: unknown };
      try {
        reading = JSON.parse(text);
      } catch {
        throw new InvalidArgumentError(
          `read: expected JSON {"voltage":..,"current":..}, got ${text.slice(0, 80)}`,
        );
      }
      if (typeof reading.voltage !== "number" || typeof reading.current !== "number") {
        throw new InvalidArgumentError(
          `read: expected numbers voltage and current, got ${text.slice(0, 80)}`,
        );
      }
      yield { voltage: reading.voltage, current: reading.current };
    },
  });
};
