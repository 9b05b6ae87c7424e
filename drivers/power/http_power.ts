// A PDU switched over HTTP: one request turns an outlet on, one off, an optional one reads the
// meter as JSON. Covers the many PDUs and smart plugs with a plain HTTP API.

import { Buffer } from "node:buffer";
import type { Fields } from "../../config/mod.ts";
import {
  DeviceUnavailableError,
  type Driver,
  DriverError,
  DriverTimeoutError,
  NotImplementedError,
} from "../framework/mod.ts";
import { powerDriver, type PowerReading } from "./power_driver.ts";

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
    method: action.string("method", { default: defaultMethod, nonEmpty: true }).toUpperCase(),
    path: action.string("path"),
    body: action.optionalString("body"),
    headers: action.stringMap("headers"),
  };
  action.done();
  return result;
}

function readBaseUrl(config: Fields): URL {
  const text = config.string("url", { nonEmpty: true });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw config.error("url", `must be an absolute URL such as http://pdu.lab:8080, got "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw config.error("url", `must be an http:// or https:// URL, got "${text}"`);
  }
  // fetch refuses URLs with credentials.
  if (url.username || url.password) {
    throw config.error("url", "must not hold credentials: set username and password instead");
  }
  return url;
}

// `path` below the base URL's own path: http://pdu/api + /outlets/1 = http://pdu/api/outlets/1.
function join(base: URL, path: string): URL {
  const [pathname, query] = path.split(/\?(.*)/s, 2);
  const url = new URL(base);
  url.pathname = `${base.pathname.replace(/\/+$/, "")}/${pathname.replace(/^\/+/, "")}`;
  if (query !== undefined) url.search = query;
  return url;
}

function parseReading(text: string): PowerReading {
  let reading: { voltage?: unknown; current?: unknown } | null = null;
  try {
    reading = JSON.parse(text);
  } catch {
    // reported below
  }
  const { voltage, current } = reading ?? {};
  if (typeof voltage !== "number" || typeof current !== "number") {
    throw new DriverError(
      `read: expected JSON {"voltage": V, "current": A}, got ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  return { voltage, current };
}

/**
 * `type: HttpPower`. Config: `url` (base), `on`/`off` (a path below it, or `{method, path,
 * body, headers}`; POST by default), `read` (optional, GET by default, answering
 * `{"voltage":..,"current":..}`), `timeout` seconds (10), `username`/`password` (HTTP basic
 * auth).
 *
 * @example
 * ```yaml
 * power:
 *   type: HttpPower
 *   config: { url: "http://pdu.lab:8080", on: /outlets/3/on, off: /outlets/3/off }
 * ```
 */
export function createHttpPower(config: Fields): Driver {
  const base = readBaseUrl(config);
  if (!config.has("on")) throw config.error("on", "is required");
  if (!config.has("off")) throw config.error("off", "is required");
  const actions = {
    on: readAction(config, "on", "POST"),
    off: readAction(config, "off", "POST"),
    read: config.has("read") ? readAction(config, "read", "GET") : undefined,
  };
  const timeoutSeconds = config.number("timeout", { default: 10, min: 0 });
  const username = config.optionalString("username");
  const password = config.optionalString("password");
  if (password !== undefined && username === undefined) {
    throw config.error("password", "needs a username");
  }
  const authorization = username === undefined
    ? undefined
    : `Basic ${Buffer.from(`${username}:${password ?? ""}`).toString("base64")}`;

  async function request(name: string, action: HttpAction, signal: AbortSignal) {
    const url = join(base, action.path);
    const headers = new Headers(action.headers);
    if (authorization) headers.set("authorization", authorization);
    const deadline = AbortSignal.timeout(timeoutSeconds * 1000);
    let status: number;
    let text: string;
    try {
      const response = await fetch(url, {
        method: action.method,
        headers,
        body: action.body,
        signal: AbortSignal.any([signal, deadline]),
      });
      status = response.status;
      text = await response.text();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (deadline.aborted) {
        throw new DriverTimeoutError(`${name}: ${url} did not answer within ${timeoutSeconds}s`);
      }
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new DeviceUnavailableError(
        `${name}: cannot reach ${url}: ${cause ?? (err as Error).message}`,
      );
    }
    if (status < 200 || status > 299) {
      throw new DriverError(
        `${name}: ${action.method} ${url} answered ${status}: ${text.slice(0, 200)}`,
      );
    }
    return text;
  }

  return powerDriver({
    description: `HTTP power switch at ${base}`,
    setPower: async (on, call) => {
      await request(on ? "on" : "off", on ? actions.on : actions.off, call.signal);
    },
    async *read(call) {
      if (!actions.read) {
        throw new NotImplementedError("this power driver has no read request configured");
      }
      yield parseReading(await request("read", actions.read, call.signal));
    },
  });
}
