import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import * as dgram from "node:dgram";
import * as net from "node:net";
import { join } from "node:path";
import { connectExporter, type DriverCallError } from "../../client/mod.ts";
import { withLocalExporter } from "../../tests/fixtures/local_exporter.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";
import type { NetworkClient } from "./client.ts";

const MIB = 1024 * 1024;

// A TCP server that answers every connection with the SHA-256 of all it received, then closes.
async function hashingServer(listen: { port: number } | { path: string }) {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const hash = createHash("sha256");
    socket.on("data", (d) => hash.update(d));
    socket.on("end", () => socket.end(hash.digest("hex")));
  });
  await new Promise<void>((resolve) => {
    if ("path" in listen) server.listen(listen.path, resolve);
    else server.listen(listen.port, "127.0.0.1", resolve);
  });
  return server;
}

function pattern(bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 31 + (i >> 12)) & 0xff;
  return data;
}

// Sends `data` over a fresh connection to `address` and returns what came back.
async function roundTrip(address: string, data: Uint8Array): Promise<string> {
  const [host, port] = address.split(":");
  const socket = net.connect({ host, port: Number(port), allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  const ended = new Promise((resolve) => socket.on("end", resolve));
  for (let i = 0; i < data.length; i += MIB) {
    if (!socket.write(data.subarray(i, i + MIB))) await new Promise((r) => socket.once("drain", r));
  }
  socket.end();
  await ended;
  return Buffer.concat(chunks).toString();
}

Deno.test("forward carries 64 MiB to a real TCP server and back intact", async () => {
  const target = await hashingServer({ port: 0 });
  const port = (target.address() as net.AddressInfo).port;
  try {
    const config = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: net }
export:
  board-ssh: { type: jumpstarter_driver_network.driver.TcpNetwork, config: { port: ${port} } }
`;
    await withLocalExporter(config, async ({ address }) => {
      await using exporter = await connectExporter(address);
      const ssh = exporter.root.child("board-ssh") as NetworkClient;
      assert.equal(await ssh.address(), `tcp://127.0.0.1:${port}`);
      const fwd = await ssh.forward();
      try {
        const data = pattern(64 * MIB);
        const expected = createHash("sha256").update(data).digest("hex");
        assert.equal(await roundTrip(fwd.address, data), expected);
        // Several connections at once, each its own tunnel.
        const small = [pattern(1000), pattern(200_000), pattern(3 * MIB)];
        const answers = await Promise.all(small.map((d) => roundTrip(fwd.address, d)));
        assert.deepEqual(answers, small.map((d) => createHash("sha256").update(d).digest("hex")));
        assert.equal(fwd.connections, 4);
      } finally {
        await fwd.close();
      }
    });
  } finally {
    target.close();
  }
});

Deno.test(
  "a Unix socket target works the same way",
  withTempDir(async (dir) => {
    const path = join(dir, "target.sock");
    const target = await hashingServer({ path });
    try {
      const config = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: net }
export:
  console: { type: UnixNetwork, config: { path: ${path} } }
`;
      await withLocalExporter(config, async ({ address }) => {
        await using exporter = await connectExporter(address);
        const fwd = await (exporter.root.child("console") as NetworkClient).forward();
        try {
          const data = pattern(5 * MIB);
          assert.equal(
            await roundTrip(fwd.address, data),
            createHash("sha256").update(data).digest("hex"),
          );
        } finally {
          await fwd.close();
        }
      });
    } finally {
      target.close();
    }
  }),
);

Deno.test("a UDP target keeps datagram boundaries both ways", async () => {
  const target = dgram.createSocket("udp4");
  target.on(
    "message",
    (msg, from) => target.send(Buffer.from(`re:${msg}`), from.port, from.address),
  );
  await new Promise<void>((resolve) => target.bind(0, "127.0.0.1", resolve));
  try {
    const config = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: net }
export:
  dns: { type: UdpNetwork, config: { port: ${target.address().port} } }
`;
    await withLocalExporter(config, async ({ address }) => {
      await using exporter = await connectExporter(address);
      const call = await exporter.root.child("dns").openStream("connect");
      const replies: string[] = [];
      const reading = (async () => {
        for await (const frame of call.stream.frames()) {
          if (frame.frameType !== 0) break;
          replies.push(new TextDecoder().decode(frame.payload));
          if (replies.length === 3) break;
        }
      })();
      for (const word of ["one", "two", "three"]) {
        await call.stream.sendMessage(new TextEncoder().encode(word));
      }
      await reading;
      await call.stream.close();
      await call.done;
      assert.deepEqual(replies.sort(), ["re:one", "re:three", "re:two"]);

      // Through a local UDP port: each sender gets its replies.
      const fwd = await (exporter.root.child("dns") as NetworkClient).forwardUdp();
      try {
        const [, port] = fwd.address.split(":");
        const ask = async (word: string) => {
          const client = dgram.createSocket("udp4");
          const answer = new Promise<string>((resolve) =>
            client.once("message", (msg) => resolve(String(msg)))
          );
          client.send(word, Number(port), "127.0.0.1");
          const text = await answer;
          client.close();
          return text;
        };
        assert.deepEqual(await Promise.all([ask("a"), ask("b")]), ["re:a", "re:b"]);
        assert.equal(fwd.connections, 2);
      } finally {
        await fwd.close();
      }
    });
  } finally {
    target.close();
  }
});

Deno.test("echo answers in kind, and a refused target is a clear UNAVAILABLE", async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const config = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: net }
export:
  echo: { type: EchoNetwork }
  gone: { type: TcpNetwork, config: { port: ${deadPort} } }
`;
  await withLocalExporter(config, async ({ address }) => {
    await using exporter = await connectExporter(address);
    const fwd = await (exporter.root.child("echo") as NetworkClient).forward();
    try {
      const [host, port] = fwd.address.split(":");
      const socket = net.connect({ host, port: Number(port) });
      socket.end("ping");
      const chunks: Buffer[] = [];
      for await (const chunk of socket) chunks.push(chunk as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), "ping");
    } finally {
      await fwd.close();
    }
    const gone = exporter.root.child("gone") as NetworkClient;
    const call = await gone.openStream("connect").then(
      (c) => c.done.then(() => undefined, (e) => e),
      (e) => e,
    );
    assert.match(
      String((call as DriverCallError).message ?? call),
      /cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
    // The exporter is still serving.
    assert.equal(await gone.address(), `tcp://127.0.0.1:${deadPort}`);
  });
});
