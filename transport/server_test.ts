import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type ServiceImpl } from "@connectrpc/connect";
import { ExporterService } from "../proto/mod.ts";
import { makeTestCerts, type TestCerts } from "../tests/fixtures/certs.ts";
import {
  AddressInUseError,
  CertificateError,
  type Channel,
  type ChannelOptions,
  createChannel,
  formatAddress,
  type GrpcServer,
  serve,
  type ServeOptions,
  SocketPathError,
  UnreachableError,
} from "./mod.ts";

// Enough of ExporterService to exercise unary, server-streaming, deadlines and cancellation.
const service: Partial<ServiceImpl<typeof ExporterService>> = {
  getReport: () => ({ uuid: "exporter-1", labels: { board: "rpi4" } }),
  async driverCall(req, ctx) {
    if (req.method === "sleep") {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
    return { uuid: req.uuid, result: { kind: { case: "stringValue", value: req.method } } };
  },
  async *streamingDriverCall(req, ctx) {
    for (let i = 0; !ctx.signal.aborted; i++) {
      yield { uuid: req.uuid, result: { kind: { case: "numberValue", value: i } } };
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  },
};

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "jmp-srv-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

async function withServer(
  options: Omit<ServeOptions, "routes">,
  fn: (server: GrpcServer) => Promise<void>,
): Promise<void> {
  const server = await serve({ ...options, routes: (r) => r.service(ExporterService, service) });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

async function withChannel(
  target: string,
  options: ChannelOptions,
  fn: (channel: Channel) => Promise<void>,
): Promise<void> {
  const channel = createChannel(target, options);
  try {
    await fn(channel);
  } finally {
    channel.close();
  }
}

async function assertConnectError(promise: Promise<unknown>, code: Code, text?: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `expected ConnectError, got ${err}`);
    assert.equal(Code[err.code], Code[code], err.message);
    if (text) assert.match(err.message, text);
    return true;
  });
}

let certs: TestCerts | undefined;
function testCerts(): TestCerts {
  certs ??= makeTestCerts();
  return certs;
}
// Made once for all the tests of this file, removed when they are done.
globalThis.addEventListener("unload", () => certs?.remove());

const transports: {
  name: string;
  serve: (dir: string) => Omit<ServeOptions, "routes">;
  dial: (server: GrpcServer) => [string, ChannelOptions];
}[] = [
  {
    name: "plaintext TCP",
    serve: () => ({ address: "127.0.0.1:0" }),
    dial: (s) => [formatAddress(s.address), { tls: false }],
  },
  {
    name: "TLS",
    serve: () => ({
      address: "127.0.0.1:0",
      tls: { cert: testCerts().serverCertPath, key: testCerts().serverKeyPath },
    }),
    dial: (s) => [`localhost:${port(s)}`, { tls: { ca: testCerts().caCertPath } }],
  },
  {
    name: "TLS with a base64-encoded CA and client certificates",
    serve: () => ({
      address: "127.0.0.1:0",
      tls: {
        cert: testCerts().serverCert,
        key: testCerts().serverKey,
        clientCa: testCerts().caCert,
      },
    }),
    dial: (s) => [`localhost:${port(s)}`, {
      tls: {
        ca: btoa(testCerts().caCert),
        cert: testCerts().clientCert,
        key: testCerts().clientKey,
      },
    }],
  },
  {
    name: "TLS without verification",
    serve: () => ({
      address: "127.0.0.1:0",
      tls: { cert: testCerts().serverCert, key: testCerts().serverKey },
    }),
    dial: (s) => [`127.0.0.1:${port(s)}`, { tls: { insecure: true } }],
  },
  {
    name: "Unix socket",
    serve: (dir) => ({ address: `unix:${join(dir, "exporter.sock")}` }),
    dial: (s) => [formatAddress(s.address), {}],
  },
];

function port(server: GrpcServer): number {
  assert.equal(server.address.kind, "tcp");
  return server.address.kind === "tcp" ? server.address.port : 0;
}

for (const transport of transports) {
  Deno.test(`unary and server-streaming calls work over ${transport.name}`, async () => {
    using tmp = tempDir();
    await withServer(transport.serve(tmp.dir), async (server) => {
      const [target, options] = transport.dial(server);
      await withChannel(target, options, async (channel) => {
        const client = createClient(ExporterService, channel.transport);
        const report = await client.getReport({});
        assert.equal(report.uuid, "exporter-1");
        assert.deepEqual(report.labels, { board: "rpi4" });
        const seen: number[] = [];
        for await (const res of client.streamingDriverCall({ uuid: "d" })) {
          const kind = res.result?.kind;
          if (kind?.case === "numberValue") seen.push(kind.value);
          if (seen.length === 3) break;
        }
        assert.deepEqual(seen, [0, 1, 2]);
      });
    });
  });
}

Deno.test("a deadline ends a slow unary call with DEADLINE_EXCEEDED", async () => {
  await withServer({ address: "127.0.0.1:0" }, async (server) => {
    await withChannel(formatAddress(server.address), { tls: false, timeoutMs: 100 }, async (ch) => {
      const client = createClient(ExporterService, ch.transport);
      await assertConnectError(
        client.driverCall({ uuid: "d", method: "sleep" }),
        Code.DeadlineExceeded,
      );
      // Per-call deadlines override the channel default.
      const quick = await client.driverCall({ uuid: "d", method: "quick" }, { timeoutMs: 5_000 });
      assert.equal(quick.result?.kind.value, "quick");
    });
  });
});

Deno.test("cancelling a server stream from the client ends it with CANCELED", async () => {
  await withServer({ address: "127.0.0.1:0" }, async (server) => {
    await withChannel(formatAddress(server.address), { tls: false }, async (ch) => {
      const client = createClient(ExporterService, ch.transport);
      const abort = new AbortController();
      const read = (async () => {
        let n = 0;
        for await (const _ of client.streamingDriverCall({ uuid: "d" }, { signal: abort.signal })) {
          if (++n === 2) abort.abort();
        }
      })();
      await assertConnectError(read, Code.Canceled);
    });
  });
});

Deno.test("messages over the size limit are refused with RESOURCE_EXHAUSTED", async () => {
  await withServer({ address: "127.0.0.1:0", maxMessageBytes: 1024 }, async (server) => {
    await withChannel(formatAddress(server.address), { tls: false }, async (ch) => {
      const client = createClient(ExporterService, ch.transport);
      await assertConnectError(
        client.driverCall({ uuid: "x".repeat(4096), method: "m" }),
        Code.ResourceExhausted,
      );
      const ok = await client.driverCall({ uuid: "small", method: "m" });
      assert.equal(ok.uuid, "small");
    });
  });
  await withServer({ address: "127.0.0.1:0" }, async (server) => {
    const target = formatAddress(server.address);
    await withChannel(target, { tls: false, maxMessageBytes: 512 }, async (ch) => {
      const client = createClient(ExporterService, ch.transport);
      await assertConnectError(
        client.driverCall({ uuid: "y".repeat(2048), method: "m" }),
        Code.ResourceExhausted,
      );
    });
  });
});

Deno.test("listening on a TCP port in use fails with AddressInUseError", async () => {
  await withServer({ address: "127.0.0.1:0" }, async (server) => {
    await assert.rejects(
      serve({ address: server.address, routes: () => {} }),
      (err: Error) =>
        err instanceof AddressInUseError && /already in use/.test(err.message) &&
        err.message.includes(formatAddress(server.address)),
    );
  });
});

Deno.test("a live Unix socket is never taken over; a stale one is replaced", async () => {
  using tmp = tempDir();
  const path = join(tmp.dir, "exporter.sock");
  await withServer({ address: `unix:${path}` }, async () => {
    await assert.rejects(serve({ address: `unix:${path}`, routes: () => {} }), AddressInUseError);
  });
  // A socket file with nobody listening, as a crashed exporter leaves behind.
  execFileSync("python3", [
    "-c",
    "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
    path,
  ]);
  assert.ok(lstatSync(path).isSocket());
  await withServer({ address: `unix:${path}` }, async (server) => {
    await withChannel(formatAddress(server.address), {}, async (ch) => {
      assert.equal(
        (await createClient(ExporterService, ch.transport).getReport({})).uuid,
        "exporter-1",
      );
    });
  });
});

Deno.test("a Unix socket path that cannot be created fails with SocketPathError", async () => {
  using tmp = tempDir();
  const file = join(tmp.dir, "plain-file");
  writeFileSync(file, "x");
  const cases: [string, RegExp][] = [
    [join(tmp.dir, "missing", "x.sock"), /not an existing directory/],
    [join(file, "x.sock"), /not an existing directory/],
    ["/sys/jmp-test.sock", /permission denied|not writable/],
    [file, /not a socket/],
  ];
  for (const [path, reason] of cases) {
    await assert.rejects(serve({ address: `unix:${path}`, routes: () => {} }), (err: Error) => {
      assert.ok(err instanceof SocketPathError, `${path}: ${err}`);
      assert.match(err.message, reason);
      assert.ok(err.message.includes(path));
      return true;
    });
  }
});

Deno.test("unusable TLS material fails with CertificateError naming the problem", async () => {
  const c = testCerts();
  const bad: [ServeOptions["tls"], RegExp][] = [
    [{ cert: "/nonexistent/server.crt", key: c.serverKeyPath }, /no such file/],
    [{ cert: c.serverCertPath, key: "not a key at all" }, /server key/],
    [{ cert: c.clientCert, key: c.serverKey }, /certificate or key/],
  ];
  for (const [tls, reason] of bad) {
    await assert.rejects(serve({ address: "127.0.0.1:0", tls, routes: () => {} }), (err: Error) => {
      assert.ok(err instanceof CertificateError, String(err));
      assert.match(err.message, reason);
      return true;
    });
  }
});

Deno.test("a server certificate from an untrusted CA is refused with a clear message", async () => {
  const c = testCerts();
  await withServer(
    { address: "127.0.0.1:0", tls: { cert: c.serverCert, key: c.serverKey } },
    async (server) => {
      const target = `localhost:${port(server)}`;
      await withChannel(target, { tls: { ca: c.otherCaCert } }, async (ch) => {
        await assertConnectError(
          createClient(ExporterService, ch.transport).getReport({}),
          Code.Unavailable,
          /not trusted/,
        );
        await assert.rejects(ch.connect(), UnreachableError);
      });
    },
  );
});

Deno.test("an unreachable endpoint fails fast with UNAVAILABLE and a hint", async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const freePort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  await withChannel(`127.0.0.1:${freePort}`, { tls: false }, async (ch) => {
    await assertConnectError(
      createClient(ExporterService, ch.transport).getReport({}),
      Code.Unavailable,
      new RegExp(`cannot reach 127\\.0\\.0\\.1:${freePort}: connection refused`),
    );
  });
  using tmp = tempDir();
  const missing = join(tmp.dir, "nobody.sock");
  await withChannel(`unix:${missing}`, {}, async (ch) => {
    await assert.rejects(ch.connect(), (err: Error) => {
      assert.ok(err instanceof UnreachableError);
      assert.match(err.message, /no socket at that path/);
      return true;
    });
  });
});
