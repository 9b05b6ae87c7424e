// The bad-input campaign: seeded fuzzing of every boundary that reads untrusted input.
//
// What is fuzzed, and what must hold for every input:
// 1. Config loaders (parseExporterConfig, parseClientConfig, parseAccessPolicies) with mutated
//    valid documents: a result or a ConfigError whose message is one line starting with the
//    file name; nothing else thrown; each input done within 1 s.
// 2. DriverCall (and StreamingDriverCall) on a real local exporter with random uuids, methods and
//    JSON arguments: success, or a ConnectError with an expected code and a non-empty one-line
//    message, within the call's deadline; afterwards GetReport and `power on` still work.
// 3. The exporter's Unix socket, raw: random bytes, a preface and garbage frames, and gRPC
//    requests with malformed length-prefixed messages and metadata: the server answers with a
//    status or closes the stream or connection, in bounded time; a normal client works after.
// 4. JWTs (verifyIdentityToken, verifyRouterToken): random, mutated, re-signed and re-headed
//    tokens are refused with a one-line TokenError that does not quote the token, and only the
//    unchanged valid token (or one validly signed with harmless claims) is accepted.
// 5. Router streams with random `authorization` and metadata: refused with UNAUTHENTICATED and a
//    one-line message, never paired; a valid pair still works afterwards.
//
// Every input comes from a mulberry32 generator seeded per case; failures print the case and
// the run's seed. Replay with FUZZ_SEED=<seed> deno test -A tests/faults/fuzz_test.ts.

import { strict as assert } from "node:assert";
import * as http2 from "node:http2";
import * as net from "node:net";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  ConfigError,
  parseClientConfig,
  parseExporterConfig,
  renderClientConfig,
} from "../../config/mod.ts";
import { parseAccessPolicies, TokenError } from "../../controller/mod.ts";
import { toValue } from "../../drivers/framework/mod.ts";
import type { LocalExporter } from "../../exporter/mod.ts";
import { ExporterService } from "../../proto/mod.ts";
import { Router } from "../../router/mod.ts";
import {
  BYTE_STREAM_PATH,
  type Channel,
  createChannel,
  formatAddress,
  openByteStream,
  serve,
} from "../../transport/mod.ts";
import { withLocalExporter } from "../fixtures/local_exporter.ts";
import { mutateConfig } from "./config_inputs.ts";
import { malformedToken, sameToken, type TokenKind, tokenKit } from "./jwt_inputs.ts";
import { baseSeed, caseSeed, Rng } from "./prng.ts";
import { concat, envelope } from "./raw_http2.ts";
import {
  grpcBody,
  headerSafe,
  PATHS,
  rawConnectionBytes,
  requestMetadata,
} from "./socket_inputs.ts";

const SEED = baseSeed();
/** Inputs per category (at least 1,000 each, as the campaign promises). */
const CASES = 1000;

/**
 * Failures of one category, each naming its case and seed, and a tally of how inputs were
 * answered; the test prints the tally and fails listing the failures.
 */
class Problems {
  readonly #category: string;
  readonly #list: string[] = [];
  readonly #tally = new Map<string, number>();

  constructor(category: string) {
    this.#category = category;
  }

  add(index: number, caseSeed: number, detail: string): void {
    this.#list.push(
      `[${this.#category} case ${index}, case seed ${caseSeed}, FUZZ_SEED=${SEED}] ${detail}`,
    );
  }

  /** Counts one input answered with `outcome` (e.g. "NotFound", "accepted"). */
  count(outcome: string): void {
    this.#tally.set(outcome, (this.#tally.get(outcome) ?? 0) + 1);
  }

  check(): void {
    const total = [...this.#tally.values()].reduce((a, b) => a + b, 0);
    const tally = [...this.#tally].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    console.log(`${this.#category}: ${total} inputs (${tally.join(", ")}), FUZZ_SEED=${SEED}`);
    const shown = this.#list.slice(0, 12).join("\n  ");
    assert.equal(this.#list.length, 0, `${this.#list.length} failures:\n  ${shown}`);
  }
}

const LINE_BREAK = /[\r\n\u2028\u2029]/;

function isOneLine(text: string): boolean {
  return !LINE_BREAK.test(text);
}

function preview(text: string, length = 160): string {
  return JSON.stringify(text.length > length ? `${text.slice(0, length)}...` : text);
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${preview(err.message, 300)}` : String(err);
}

/** Runs `run(i)` for i < count, `concurrency` at a time. */
async function pool(
  count: number,
  concurrency: number,
  run: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await run(next++);
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// 1. Config loaders

const CONFIG_FILE = "/fuzz/configs/bench.yaml";

const RICH_EXPORTER = `apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { namespace: lab, name: rich }
endpoint: grpc.example.com:443
token: abc.def.ghi
tls: { ca: "", insecure: true }
grpcOptions: { grpc.keepalive_time_ms: 20000, grpc.primary_user_agent: bench }
description: A bench
motd: Welcome
export:
  power: { type: MockPower, methods_description: { on: Switch on } }
  alias: { ref: power, description: second name }
  board:
    children:
      serial: { type: PySerial, config: { url: /dev/ttyUSB0, baudrate: 115200 } }
hooks:
  beforeLease: { script: echo hi, timeout: 30, onFailure: endLease, exec: /bin/sh }
  afterLease: { script: echo bye }
exitOnLeaseEnd: false
failureDetection: { maxRapidFailures: 3, rapidFailureWindow: 30 }
`;

const POLICY = `apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterAccessPolicy
metadata: { name: lab-policy, namespace: lab }
spec:
  exporterSelector: { matchLabels: { board: rpi4 } }
  policies:
    - priority: 10
      description: developers
      maximumDuration: 2h30m
      spotAccess: false
      from:
        - clientSelector:
            matchLabels: { team: dev }
            matchExpressions: [{ key: tier, operator: In, values: [a, b] }]
---
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterAccessPolicy
metadata: { name: open }
spec:
  policies: [{ from: [{ clientSelector: {} }] }]
`;

const LOADERS: { name: string; bases: string[]; parse: (text: string) => unknown }[] = [
  {
    name: "exporter config",
    bases: [
      readFileSync(new URL("../../examples/demo-exporter.yaml", import.meta.url), "utf8"),
      RICH_EXPORTER,
    ],
    parse: (text) => parseExporterConfig(text, CONFIG_FILE),
  },
  {
    name: "client config",
    bases: [
      renderClientConfig({
        alias: "lab",
        endpoint: "jumpstarter.example.com:443",
        token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjbGllbnQ6bGFiOmFkYTp1MSJ9.c2ln",
        refreshToken: "refresh",
        allow: ["jumpstarter_driver_*", "UNSAFE"],
        grpcOptions: { "grpc.keepalive_time_ms": 20000 },
      }),
    ],
    parse: (text) => parseClientConfig(text, CONFIG_FILE),
  },
  {
    name: "access policy",
    bases: [POLICY],
    parse: (text) => parseAccessPolicies(text, CONFIG_FILE),
  },
];

/** What a loader must do with `text`: return, or throw a one-line ConfigError naming the file. */
function configProblem(
  parse: (text: string) => unknown,
  text: string,
  problems?: Problems,
): string | undefined {
  const started = performance.now();
  let error: unknown;
  try {
    parse(text);
  } catch (err) {
    error = err;
  }
  problems?.count(error === undefined ? "valid" : (error as Error).name ?? "?");
  const elapsed = performance.now() - started;
  if (elapsed > 1000) return `took ${elapsed.toFixed(0)} ms (limit 1000)`;
  if (error === undefined) return undefined;
  if (!(error instanceof ConfigError)) return `threw ${describe(error)}, not a ConfigError`;
  if (!isOneLine(error.message)) return `message is not one line: ${preview(error.message)}`;
  if (!error.message.startsWith(`${CONFIG_FILE}: `)) {
    return `message does not start with the file name: ${preview(error.message)}`;
  }
  return undefined;
}

for (const loader of LOADERS) {
  Deno.test(`fuzz: ${loader.name} loader returns a config or a one-line ConfigError`, () => {
    const problems = new Problems(loader.name);
    for (let i = 0; i < CASES; i++) {
      const seed = caseSeed(SEED, loader.name, i);
      const rng = new Rng(seed);
      const { text, steps } = mutateConfig(rng.pick(loader.bases), rng);
      const problem = configProblem(loader.parse, text, problems);
      if (problem) {
        problems.add(i, seed, `${steps.join(" + ")}: ${problem}; input ${preview(text)}`);
      }
    }
    problems.check();
  });
}

Deno.test("regression: config errors stay one line and ConfigErrors for odd keys and aliases", () => {
  const cases: [string, (text: string) => unknown, string][] = [
    // A key with a line break was quoted raw into "unknown key ...".
    ["exporter", LOADERS[0].parse, RICH_EXPORTER + '"a\\nb": 1\n'],
    ["exporter", LOADERS[0].parse, RICH_EXPORTER.replace("alias:", '"a.\\nb":')],
    ["client", LOADERS[1].parse, 'tls: { "in\\nsecure": true }\n'],
    ["client", LOADERS[1].parse, 'grpcOptions: { "a\\nb": [1] }\n'],
    // Values quoted raw into access policy messages.
    ["policy", LOADERS[2].parse, 'kind: "x\\ny"\n'],
    [
      "policy",
      LOADERS[2].parse,
      'kind: ExporterAccessPolicy\nmetadata: {name: a}\nspec: {policies: [{maximumDuration: "1\\nh"}]}\n',
    ],
    // An alias bomb escaped parseAccessPolicies as yaml's ReferenceError.
    ["policy", LOADERS[2].parse, "a: &a [1,1,1,1,1,1,1,1,1]\n" + laughs(8)],
  ];
  for (const [what, parse, text] of cases) {
    assert.equal(configProblem(parse, text), undefined, `${what}: ${preview(text)}`);
  }
});

function laughs(levels: number): string {
  let out = "l0: &l0 [x]\n";
  for (let i = 1; i <= levels; i++) out += `l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`)}]\n`;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Exporter used by parts 2 and 3

const EXPORTER_CONFIG = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: fuzz-bench }
export:
  power: { type: MockPower }
  shell:
    type: Shell
    config:
      shell: [sh, -c]
      timeout: 5
      methods:
        hello: { command: 'echo hello "$@"', description: Greets }
        version: echo 1.0
  echo: { type: EchoNetwork }
  storage: { type: MockStorageMux }
`;

interface Bench {
  address: string;
  exporter: LocalExporter;
  service: Client<typeof ExporterService>;
  channel: Channel;
  uuidOf(name: string): string;
  /** Every driver with its method names. */
  drivers: { name: string; uuid: string; methods: string[] }[];
}

async function withBench(test: (bench: Bench) => Promise<void>): Promise<void> {
  await withLocalExporter(EXPORTER_CONFIG, async ({ address, exporter }) => {
    const channel = createChannel(address, { tls: false });
    try {
      const drivers = exporter.session.tree.nodes.map((node) => ({
        name: node.name ?? "root",
        uuid: node.uuid,
        methods: Object.keys(node.driver.methods),
      }));
      const uuidOf = (name: string) => drivers.find((d) => d.name === name)!.uuid;
      const service = createClient(ExporterService, channel.transport);
      await test({ address, exporter, service, channel, uuidOf, drivers });
    } finally {
      channel.close();
    }
  });
}

/** The exporter still serves: GetReport answers, `power on` works, an echo stream echoes. */
async function assertBenchHealthy(bench: Bench): Promise<void> {
  const channel = createChannel(bench.address, { tls: false, timeoutMs: 5000 });
  try {
    const service = createClient(ExporterService, channel.transport);
    const report = await service.getReport({});
    assert.equal(report.reports.length, bench.drivers.length);
    await service.driverCall({ uuid: bench.uuidOf("power"), method: "off", args: [] });
    await service.driverCall({ uuid: bench.uuidOf("power"), method: "on", args: [] });
    const power = bench.exporter.session.tree.nodes.find((n) => n.name === "power")!;
    assert.equal((power.driver as unknown as { isOn: boolean }).isOn, true);
    const call = await openByteStream(channel, {
      metadata: {
        request: JSON.stringify({ kind: "driver", uuid: bench.uuidOf("echo"), method: "connect" }),
      },
    });
    await call.stream.send(new TextEncoder().encode("still alive"));
    await call.stream.close();
    let echoed = "";
    for await (const chunk of call.stream) echoed += new TextDecoder().decode(chunk);
    await call.done;
    assert.equal(echoed, "still alive");
  } finally {
    channel.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. DriverCall arguments

const CALL_TIMEOUT_MS = 2000;
const DRIVER_CALL_CODES = new Set([
  Code.NotFound,
  Code.InvalidArgument,
  Code.Unimplemented,
  Code.FailedPrecondition,
  Code.Unknown,
  Code.DeadlineExceeded,
]);
const ODD_METHODS = ["__proto__", "constructor", "toString", "hasOwnProperty", "", " ", "on "];

function driverCallInput(rng: Rng, drivers: Bench["drivers"]) {
  const driver = rng.pick(drivers);
  const uuid = rng.chance(0.75) ? driver.uuid : rng.pick<() => string>([
    () => rng.uuid(),
    () => rng.text(40),
    () => "",
    () => driver.uuid.toUpperCase(),
    () => ` ${driver.uuid}`,
    () => "u".repeat(rng.between(1000, 20_000)),
  ])();
  const allMethods = drivers.flatMap((d) => d.methods);
  const method = rng.chance(0.6) && driver.methods.length > 0
    ? rng.pick(driver.methods)
    : rng.pick<() => string>([
      () => rng.pick(allMethods),
      () => rng.pick(ODD_METHODS),
      () => rng.text(20),
      () => "m".repeat(rng.between(1000, 20_000)),
    ])();
  const args = Array.from({ length: rng.length(8) }, () => rng.json(3));
  return { uuid, method, args };
}

/** Why a failed driver call breaks the rules, or undefined when it is an allowed failure. */
function callFailureProblem(err: unknown): string | undefined {
  if (!(err instanceof ConnectError)) return `threw ${describe(err)}, not a ConnectError`;
  if (!DRIVER_CALL_CODES.has(err.code)) {
    return `code ${Code[err.code]} is not expected (${preview(err.rawMessage)})`;
  }
  if (err.rawMessage.trim() === "") return `code ${Code[err.code]} with an empty message`;
  if (!isOneLine(err.rawMessage)) return `message is not one line: ${preview(err.rawMessage)}`;
  return undefined;
}

Deno.test("fuzz: DriverCall with random uuids, methods and arguments fails cleanly", async () => {
  await withBench(async (bench) => {
    const problems = new Problems("driver call");
    const calls = CASES + 200;
    await pool(calls, 8, async (i) => {
      const seed = caseSeed(SEED, "driver call", i);
      const rng = new Rng(seed);
      const streaming = i >= CASES; // the last 200 go through StreamingDriverCall
      const input = driverCallInput(rng, bench.drivers);
      if (streaming && rng.chance(0.5)) {
        // Shell commands with random arguments and environments (harmless: echo).
        input.uuid = bench.uuidOf("shell");
        input.method = "call_method";
        const env = Object.fromEntries(
          Array.from({ length: rng.length(4) }, () => {
            const key = rng.text(8);
            // Names that pass the check are kept off real variables (PATH, LD_PRELOAD, ...).
            return [/^[A-Za-z_]\w*$/.test(key) ? `FUZZ_${key}` : key, rng.json(1)];
          }),
        );
        input.args = [rng.pick(["hello", "version", rng.text(8)]), env, ...input.args];
      }
      const request = { uuid: input.uuid, method: input.method, args: input.args.map(toValue) };
      const started = performance.now();
      let error: unknown;
      try {
        if (streaming) {
          const stream = bench.service.streamingDriverCall(request, {
            timeoutMs: CALL_TIMEOUT_MS,
          });
          for await (const _ of stream) { /* drain */ }
        } else {
          await bench.service.driverCall(request, { timeoutMs: CALL_TIMEOUT_MS });
        }
      } catch (err) {
        error = err;
      }
      const elapsed = performance.now() - started;
      const what = `${streaming ? "StreamingDriverCall" : "DriverCall"} ${
        preview(input.method, 40)
      } on ${preview(input.uuid, 40)} with ${preview(JSON.stringify(input.args), 80)}`;
      if (elapsed > CALL_TIMEOUT_MS + 1000) {
        problems.add(i, seed, `${what}: took ${elapsed.toFixed(0)} ms`);
      }
      problems.count(
        error === undefined
          ? "ok"
          : error instanceof ConnectError
          ? Code[error.code]
          : String((error as Error)?.name),
      );
      const problem = error === undefined ? undefined : callFailureProblem(error);
      if (problem) problems.add(i, seed, `${what}: ${problem}`);
    });
    problems.check();
    await assertBenchHealthy(bench);
  });
});

Deno.test("regression: driver call errors quote odd uuids and method names on one line", async () => {
  await withBench(async (bench) => {
    const power = bench.uuidOf("power");
    for (
      const request of [
        { uuid: "no\nsuch", method: "on", args: [] },
        { uuid: power, method: "o\nn", args: [] },
      ]
    ) {
      const err = await bench.service.driverCall(request).then(() => undefined, (e) => e);
      assert.equal(callFailureProblem(err), undefined, JSON.stringify(request));
      assert.equal((err as ConnectError).code, Code.NotFound);
    }
    const call = await openByteStream(bench.channel, {
      metadata: { request: JSON.stringify({ kind: "dri\nver" }) },
    });
    const err = await call.done.then(() => undefined, (e) => e);
    assert.equal(callFailureProblem(err), undefined, describe(err));
    // A status quoting a huge argument or uuid outgrew the HTTP/2 header limits: the caller got
    // INTERNAL "Stream closed with error code NGHTTP2_FRAME_SIZE_ERROR" instead of the error.
    const huge = "x".repeat(100_000);
    const requests = [
      { uuid: bench.uuidOf("shell"), method: "call_method", args: [toValue({ huge })] },
      { uuid: huge, method: "read", args: [] },
    ];
    for (const [i, request] of requests.entries()) {
      const failure = await (async () => {
        for await (const _ of bench.service.streamingDriverCall(request)) { /* drain */ }
      })().then(() => undefined, (e) => e);
      assert.equal(callFailureProblem(failure), undefined, `request ${i}: ${describe(failure)}`);
      const expected = i === 0 ? Code.InvalidArgument : Code.NotFound;
      assert.equal(Code[(failure as ConnectError).code], Code[expected]);
      assert.ok((failure as ConnectError).rawMessage.length < 5000);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Raw socket: bytes, HTTP/2 frames and gRPC messages

const OBSERVE_MS = 3000;

/** Writes `bytes` on a fresh connection and half-closes; resolves how the server reacted. */
function rawExchange(path: string, bytes: Uint8Array): Promise<"closed" | "hung"> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("hung");
    }, OBSERVE_MS);
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
    socket.write(bytes, () => socket.end());
  });
}

interface StreamOutcome {
  path: string;
  status?: number;
  grpcStatus?: string;
  grpcMessage?: string;
  resourceHeader: boolean;
  rstCode?: number;
  hung: boolean;
}

/** One gRPC-shaped request on `session` with a malformed body; reports how it ended. */
function malformedRequest(
  session: http2.ClientHttp2Session,
  rng: Rng,
  bench: Bench,
): Promise<StreamOutcome> {
  const path = rng.chance(0.7)
    ? BYTE_STREAM_PATH
    : rng.pick(PATHS.filter((p) => p.startsWith("/")));
  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": path,
    te: "trailers",
    "grpc-timeout": rng.chance(0.85) ? "1500m" : rng.pick(["1n", "0m", "abc", "99999999H", ""]),
  };
  // Mostly gRPC, so that most inputs get past the content-type check to the message decoding.
  const contentType = rng.chance(0.8)
    ? rng.pick(["application/grpc", "application/grpc+proto"])
    : rng.pick([
      "application/grpc+json",
      "application/grpc; charset=x",
      "text/plain",
      undefined,
    ]);
  if (contentType) headers["content-type"] = contentType;
  // Metadata stays under the header size limits: a larger header block may end the connection.
  if (rng.chance(0.9)) headers.request = headerSafe(requestMetadata(rng, bench)).slice(0, 4000);
  if (rng.chance(0.2)) headers["grpc-encoding"] = rng.pick(["gzip", "br", "identity", "zstd"]);
  if (rng.chance(0.2)) headers.authorization = headerSafe(`Bearer ${rng.text(40)}`);
  const { chunks, hugeLength } = grpcBody(rng);
  // A huge declared length must be refused without waiting for the bytes: keep the stream open.
  const keepOpen = hugeLength && rng.chance(0.5);

  return new Promise((resolve) => {
    const outcome: StreamOutcome = { path, resourceHeader: false, hung: false };
    const req = session.request(headers);
    const timer = setTimeout(() => {
      outcome.hung = true;
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, OBSERVE_MS);
    const take = (raw: http2.IncomingHttpHeaders) => {
      if (raw[":status"] !== undefined) outcome.status = Number(raw[":status"]);
      if (raw["resource"] !== undefined) outcome.resourceHeader = true;
      if (raw["grpc-status"] !== undefined) outcome.grpcStatus = String(raw["grpc-status"]);
      if (raw["grpc-message"] !== undefined) outcome.grpcMessage = String(raw["grpc-message"]);
      // Answered: a caller that is still sending stops, as gRPC clients do.
      if (outcome.grpcStatus !== undefined || outcome.status !== 200) {
        setTimeout(() => req.close(http2.constants.NGHTTP2_NO_ERROR), 50);
      }
    };
    req.on("response", take);
    req.on("trailers", take);
    req.on("data", () => {});
    req.on("error", () => {});
    req.on("close", () => {
      clearTimeout(timer);
      outcome.rstCode = req.rstCode;
      resolve(outcome);
    });
    (async () => {
      for (const chunk of chunks) {
        if (req.destroyed || req.closed) return;
        await new Promise<void>((done) => req.write(chunk, () => done()));
      }
      if (!keepOpen && !req.destroyed) req.end();
    })().catch(() => {});
  });
}

/**
 * Why a stream outcome breaks the rules. A status (in headers or trailers) is an answer even if
 * the stream then stays half open: the caller must end its side. Messages of the byte-stream path
 * are ours and must be one line; connect-es writes the others (its JSON codec quotes the body).
 */
function streamProblem(outcome: StreamOutcome, byteStream: boolean): string | undefined {
  const answered = outcome.grpcStatus !== undefined ||
    (outcome.status !== undefined && outcome.status !== 200);
  if (outcome.hung && !answered && !outcome.resourceHeader) return "no status and no reset in time";
  if (outcome.grpcStatus !== undefined) {
    const code = Number(outcome.grpcStatus);
    if (!Number.isInteger(code) || code < 0 || code > 16) {
      return `grpc-status ${preview(outcome.grpcStatus)} is not a status code`;
    }
    let message = outcome.grpcMessage ?? "";
    try {
      message = decodeURIComponent(message);
    } catch {
      return `grpc-message is not percent-encoded: ${preview(message)}`;
    }
    if (byteStream && !isOneLine(message)) {
      return `grpc-message is not one line: ${preview(message)}`;
    }
    if (code !== 0 && message.trim() === "") return `status ${code} without a message`;
  }
  return undefined;
}

function connectSession(path: string): http2.ClientHttp2Session {
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(path) });
  session.on("error", () => {});
  return session;
}

Deno.test("fuzz: the exporter socket survives garbage bytes, bad frames and bad messages", async () => {
  await withBench(async (bench) => {
    const path = bench.address.slice("unix:".length);
    const problems = new Problems("raw socket");
    // Raw connections: each one is an input.
    const connections = 400;
    await pool(connections, 16, async (i) => {
      const seed = caseSeed(SEED, "raw connection", i);
      const bytes = rawConnectionBytes(new Rng(seed), bench);
      const reaction = await rawExchange(path, bytes);
      problems.count(`connection ${reaction}`);
      if (reaction === "hung") {
        problems.add(i, seed, `connection not closed ${OBSERVE_MS} ms after ${bytes.length} bytes`);
      }
    });
    // gRPC requests with malformed messages, many per HTTP/2 session.
    const streams = CASES;
    const perSession = 100;
    const firsts = Array.from(
      { length: Math.ceil(streams / perSession) },
      (_, n) => n * perSession,
    );
    // The sessions run side by side: each waits on its slowest stream (a deadline, ~1.5 s).
    await Promise.all(firsts.map(async (first) => {
      const session = connectSession(path);
      try {
        await pool(Math.min(perSession, streams - first), 20, async (k) => {
          const i = first + k;
          const seed = caseSeed(SEED, "grpc stream", i);
          if (session.destroyed || session.closed) {
            problems.add(i, seed, "the session was closed by an earlier stream");
            return;
          }
          const outcome = await malformedRequest(session, new Rng(seed), bench);
          problems.count(
            outcome.grpcStatus !== undefined
              ? `stream status ${Code[Number(outcome.grpcStatus)] ?? outcome.grpcStatus}`
              : outcome.status !== undefined && outcome.status !== 200
              ? `stream HTTP ${outcome.status}`
              : outcome.resourceHeader
              ? "stream waiting as a resource"
              : `stream reset ${outcome.rstCode}`,
          );
          const problem = streamProblem(outcome, outcome.path === BYTE_STREAM_PATH);
          if (problem) problems.add(i, seed, `${problem} (${JSON.stringify(outcome)})`);
        });
      } finally {
        session.close();
      }
    }));
    problems.check();
    await assertBenchHealthy(bench);
  });
});

/**
 * Sends one request on a fresh session, its body `delayMs` after its headers, and collects the
 * status and the response body.
 */
function rawCall(
  path: string,
  headers: http2.OutgoingHttpHeaders,
  body: Uint8Array,
  delayMs = 0,
): Promise<{ grpcStatus?: string; grpcMessage?: string; data: Uint8Array; elapsedMs: number }> {
  const session = connectSession(path);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", te: "trailers", ...headers });
    const chunks: Uint8Array[] = [];
    const result: { grpcStatus?: string; grpcMessage?: string } = {};
    const take = (raw: http2.IncomingHttpHeaders) => {
      if (raw["grpc-status"] !== undefined) result.grpcStatus = String(raw["grpc-status"]);
      if (raw["grpc-message"] !== undefined) result.grpcMessage = String(raw["grpc-message"]);
    };
    req.on("response", take);
    req.on("trailers", take);
    req.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    req.on("error", reject);
    req.on("close", () => {
      session.close();
      resolve({ ...result, data: concat(chunks), elapsedMs: performance.now() - started });
    });
    setTimeout(() => req.end(body), delayMs);
  });
}

Deno.test("regression: bad frames on a driver's byte stream get the transport's codes", async () => {
  await withBench(async (bench) => {
    const path = bench.address.slice("unix:".length);
    const request = JSON.stringify({
      kind: "driver",
      uuid: bench.uuidOf("echo"),
      method: "connect",
    });
    const cases: [Uint8Array, Code][] = [
      [envelope(new Uint8Array([0x0a, 1, 0x41]), 1), Code.InvalidArgument], // compressed flag
      [envelope(new Uint8Array([0x0b])), Code.InvalidArgument], // wire type 3
      [envelope(new Uint8Array(0), 0, 0xffffffff), Code.ResourceExhausted],
    ];
    for (const [body, code] of cases) {
      const answer = await rawCall(path, {
        ":path": BYTE_STREAM_PATH,
        "content-type": "application/grpc",
        "grpc-timeout": "2S",
        request,
      }, body);
      assert.equal(answer.grpcStatus, String(code), decodeURIComponent(answer.grpcMessage ?? ""));
    }
  });
});

Deno.test("regression: a request never finished is answered DEADLINE_EXCEEDED at its deadline", async () => {
  await withBench(async (bench) => {
    const path = bench.address.slice("unix:".length);
    for (const method of ["GetReport", "DriverCall"]) {
      const session = connectSession(path);
      const started = performance.now();
      const req = session.request({
        ":method": "POST",
        ":path": `/jumpstarter.v1.ExporterService/${method}`,
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "300m",
      });
      req.on("data", () => {});
      req.on("error", () => {});
      // A message announced as 98 bytes, of which 3 come; the request is never ended.
      req.write(concat([envelope(new Uint8Array(0), 0, 98), new Uint8Array([1, 2, 3])]));
      const status = await new Promise<unknown>((resolve) => {
        const timer = setTimeout(() => resolve("none"), 3000);
        req.on("response", (headers) => {
          clearTimeout(timer);
          resolve(headers["grpc-status"]);
        });
      });
      req.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
      assert.equal(status, String(Code.DeadlineExceeded), `${method}: status ${status}`);
      assert.ok(performance.now() - started < 2000, `${method}: answered late`);
    }
  });
});

Deno.test("regression: a deadline longer than a timer can hold does not expire at once", async () => {
  await withBench(async (bench) => {
    const path = bench.address.slice("unix:".length);
    // 99999999H is the largest grpc-timeout; anything over 2^31-1 ms used to overflow the timer,
    // which then fired after 1 ms.
    for (const timeout of ["99999999H", "2592000S"]) {
      // LogStream runs until its deadline: it must still be open a while later.
      const session = connectSession(path);
      const logs = session.request({
        ":method": "POST",
        ":path": "/jumpstarter.v1.ExporterService/LogStream",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": timeout,
      });
      logs.on("data", () => {});
      logs.on("error", () => {});
      const closed = new Promise<string>((resolve) => logs.on("close", () => resolve("closed")));
      logs.end(envelope(new Uint8Array(0)));
      const early = await Promise.race([closed, new Promise((r) => setTimeout(r, 300, "open"))]);
      logs.close(http2.constants.NGHTTP2_CANCEL);
      await closed;
      session.close();
      assert.equal(early, "open", `LogStream with grpc-timeout ${timeout} ended at once`);
      const payload = new TextEncoder().encode("hi");
      const echo = await rawCall(
        path,
        {
          ":path": BYTE_STREAM_PATH,
          "content-type": "application/grpc",
          "grpc-timeout": timeout,
          request: JSON.stringify({
            kind: "driver",
            uuid: bench.uuidOf("echo"),
            method: "connect",
          }),
        },
        envelope(new Uint8Array([0x0a, payload.length, ...payload])),
        100,
      );
      assert.equal(echo.grpcStatus, "0", `echo, ${timeout}: ${echo.grpcMessage}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 4. JWTs

for (const kind of ["identity", "router"] as TokenKind[]) {
  Deno.test(`fuzz: verify${kind === "router" ? "Router" : "Identity"}Token refuses malformed tokens`, async () => {
    const kit = await tokenKit();
    const verify = (token: string, expectedKind?: "client" | "exporter") =>
      kind === "router"
        ? kit.issuer.verifyRouterToken(token)
        : kit.issuer.verifyIdentityToken(token, expectedKind);
    // The unchanged tokens pass: otherwise every refusal below would prove nothing.
    await verify(kind === "router" ? kit.router : kit.identity.client, "client");
    const problems = new Problems(`${kind} token`);
    for (let i = 0; i < CASES + 200; i++) {
      const seed = caseSeed(SEED, `${kind} token`, i);
      const input = await malformedToken(kit, new Rng(seed), kind);
      const started = performance.now();
      let error: unknown;
      try {
        await verify(input.token, input.expectedKind);
      } catch (err) {
        error = err;
      }
      const elapsed = performance.now() - started;
      const what = `${input.how} ${preview(input.token, 100)}`;
      if (elapsed > 1000) problems.add(i, seed, `${what}: took ${elapsed.toFixed(0)} ms`);
      problems.count(
        error === undefined
          ? `accepted (${input.verdict})`
          : error instanceof TokenError
          ? error.reason
          : String((error as Error)?.name),
      );
      if (error === undefined) {
        const fine = input.verdict === "maybe" ||
          (input.verdict === "same-as" && sameToken(input.token, input.original!));
        if (!fine) problems.add(i, seed, `${what}: accepted`);
        continue;
      }
      const problem = tokenErrorProblem(error, input.token);
      if (problem) problems.add(i, seed, `${what}: ${problem}`);
    }
    problems.check();
  });
}

/** Why a refusal breaks the rules: not a TokenError, several lines, or it quotes the token. */
function tokenErrorProblem(err: unknown, token: string): string | undefined {
  if (!(err instanceof TokenError)) return `threw ${describe(err)}, not a TokenError`;
  if (!isOneLine(err.message)) return `message is not one line: ${preview(err.message)}`;
  if (token.length >= 10 && err.message.includes(token)) return "message contains the token";
  const signature = token.split(".")[2] ?? "";
  if (signature.length >= 16 && err.message.includes(signature)) {
    return "message contains the token's signature";
  }
  return undefined;
}

Deno.test("regression: a valid token with padding or whitespace added is refused", async () => {
  const kit = await tokenKit();
  for (const token of [kit.router, kit.identity.client]) {
    const verify = token === kit.router
      ? (t: string) => kit.issuer.verifyRouterToken(t)
      : (t: string) => kit.issuer.verifyIdentityToken(t);
    const at = token.lastIndexOf(".") + 5;
    for (const odd of [`${token}==`, `${token.slice(0, at)}\n${token.slice(at)}`, ` ${token}`]) {
      const err = await verify(odd).then(() => undefined, (e) => e);
      assert.ok(err instanceof TokenError, `accepted ${preview(odd)}`);
      assert.equal(err.reason, "malformed");
    }
  }
});

Deno.test("regression: tokens with out-of-range times are refused with a TokenError", async () => {
  const kit = await tokenKit();
  const now = Math.floor(Date.now() / 1000);
  const router = {
    iss: "https://jumpstarter.dev/stream",
    aud: ["https://jumpstarter.dev/router"],
    sub: "s",
  };
  const identity = { iss: kit.issuer.issuer, aud: ["jumpstarter"], sub: "client:a:b:c" };
  const payloads = [
    JSON.stringify({ ...router, exp: -1e300 }),
    JSON.stringify({ ...router, exp: now + 60, nbf: 1e300 }),
    JSON.stringify({ ...router, exp: 0 }).replace('"exp":0', '"exp":-1e400'),
  ];
  for (const payload of payloads) {
    const token = kit.signRouter({ alg: "HS256" }, payload);
    const err = await kit.issuer.verifyRouterToken(token).then(() => undefined, (e) => e);
    assert.equal(tokenErrorProblem(err, token), undefined, payload);
  }
  for (const extra of [{ exp: -1e300 }, { exp: now + 60, nbf: 1e300 }]) {
    const token = await kit.signIdentity(
      { alg: "ES256" },
      JSON.stringify({ ...identity, ...extra }),
    );
    const err = await kit.issuer.verifyIdentityToken(token).then(() => undefined, (e) => e);
    assert.equal(tokenErrorProblem(err, token), undefined, JSON.stringify(extra));
  }
});

// ---------------------------------------------------------------------------------------------
// 5. Router stream metadata

const ROUTER_CODES = new Set([Code.Unauthenticated]);

async function routerAuthorization(
  rng: Rng,
  kit: Awaited<ReturnType<typeof tokenKit>>,
): Promise<string | undefined> {
  let token: string;
  for (;;) {
    // Only tokens that must be refused: an acceptable one would wait for a partner.
    const input = await malformedToken(kit, rng, "router");
    if (input.verdict === "never") {
      token = input.token;
      break;
    }
  }
  if (token.length > 8000) token = token.slice(0, 8000);
  token = headerSafe(token);
  return rng.pick<() => string | undefined>([
    () => `Bearer ${token}`,
    () => `bearer ${token}`,
    () => `Bearer  ${token}`,
    () => `Bearer ${token} extra`,
    () => `Basic ${token}`,
    () => token,
    () => "Bearer",
    () => "Bearer ",
    () => "",
    () => undefined,
    () => `Bearer ${kit.identity.client}`,
    () => `Bearer ${kit.foreign.router}`,
    () => headerSafe(rng.text(100)),
  ])();
}

Deno.test("fuzz: router streams with bad authorization are refused and never paired", async () => {
  const kit = await tokenKit();
  const router = new Router({
    pairTimeoutMs: 500,
    verify: async (token) => {
      const claims = await kit.issuer.verifyRouterToken(token);
      return {
        streamId: claims.streamId,
        namespace: claims.namespace ?? "",
        lease: claims.lease ?? "",
        expiresAt: claims.expiresAt,
      };
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "jmp-fuzz-router-"));
  const server = await serve({
    address: `unix:${join(dir, "router.sock")}`,
    routes: () => {},
    byteStream: router.handle,
  });
  const address = formatAddress(server.address);
  const channel = createChannel(address, { tls: false });
  try {
    const problems = new Problems("router stream");
    await pool(CASES, 20, async (i) => {
      const seed = caseSeed(SEED, "router stream", i);
      const rng = new Rng(seed);
      const metadata: Record<string, string> = {};
      const authorization = await routerAuthorization(rng, kit);
      if (authorization !== undefined) metadata.authorization = authorization;
      for (let n = rng.length(4); n > 0; n--) {
        const name = rng.pick([
          "request",
          "x-" + rng.text(10, "abcdefghijklmnopqrstuvwxyz0123456789-", 0),
        ]);
        metadata[name] = headerSafe(rng.text(60));
      }
      const started = performance.now();
      const call = await openByteStream(channel, { metadata, timeoutMs: OBSERVE_MS });
      const err = await call.done.then(() => undefined, (e) => e);
      const elapsed = performance.now() - started;
      const what = `authorization ${preview(authorization ?? "(none)", 80)}`;
      problems.count(err instanceof ConnectError ? Code[err.code] : err ? "other" : "accepted");
      if (err === undefined) {
        problems.add(i, seed, `${what}: the stream was accepted`);
        return;
      }
      if (!(err instanceof ConnectError)) {
        problems.add(i, seed, `${what}: ${describe(err)}, not a ConnectError`);
      } else if (!ROUTER_CODES.has(err.code)) {
        problems.add(i, seed, `${what}: code ${Code[err.code]} (${preview(err.rawMessage)})`);
      } else if (!isOneLine(err.rawMessage) || err.rawMessage.trim() === "") {
        problems.add(i, seed, `${what}: message ${preview(err.rawMessage)}`);
      }
      if (elapsed > OBSERVE_MS) problems.add(i, seed, `${what}: took ${elapsed.toFixed(0)} ms`);
      if (router.waitingCount !== 0) problems.add(i, seed, `${what}: a stream is waiting to pair`);
    });
    problems.check();

    // A valid pair still meets and carries bytes both ways.
    const { token } = await kit.issuer.issueRouterToken({ namespace: "lab", lease: "l1" });
    const fresh = createChannel(address, { tls: false });
    try {
      const open = () =>
        openByteStream(fresh, { metadata: { authorization: `Bearer ${token}` }, timeoutMs: 5000 });
      const [a, b] = await Promise.all([open(), open()]);
      await a.stream.send(new TextEncoder().encode("ping"));
      await a.stream.close();
      await b.stream.send(new TextEncoder().encode("pong"));
      await b.stream.close();
      const read = async (side: typeof a) => {
        let text = "";
        for await (const chunk of side.stream) text += new TextDecoder().decode(chunk);
        return text;
      };
      assert.deepEqual(await Promise.all([read(a), read(b)]), ["pong", "ping"]);
      await Promise.all([a.done, b.done]);
    } finally {
      fresh.close();
    }
  } finally {
    channel.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
