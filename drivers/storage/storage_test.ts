import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import * as zlib from "node:zlib";
import { connectExporter, DriverCallError } from "../../client/mod.ts";
import { withLocalExporter } from "../../tests/fixtures/local_exporter.ts";
import { ignoreUnlessInstalled, toolMissing } from "../../tests/fixtures/optional_tools.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";
import type { StorageMuxClient } from "./client.ts";
import { formatBytes, Progress } from "./progress.ts";

const MIB = 1024 * 1024;

function config(image: string, dir: string): string {
  return `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: storage }
export:
  storage:
    type: StorageMux
    config:
      path: ${image}
      host: echo host > ${join(dir, "mux")}
      dut: echo dut > ${join(dir, "mux")}
`;
}

// A generated image: mostly a pattern, with all-zero stretches as real disk images have.
async function* generated(bytes: number, chunk = 4 * MIB): AsyncGenerator<Uint8Array> {
  const block = new Uint8Array(chunk);
  for (let i = 0; i < chunk; i++) block[i] = (i * 7 + 3) & 0xff;
  const zeros = new Uint8Array(chunk);
  for (let sent = 0, n = 0; sent < bytes; sent += chunk, n++) {
    const part = n % 4 === 3 ? zeros : block;
    yield part.subarray(0, Math.min(chunk, bytes - sent));
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MIB })) hash.update(chunk);
  return hash.digest("hex");
}

Deno.test(
  "a 1 GiB image streams to the storage mux with its checksum verified on both sides",
  withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    await withLocalExporter(config(image, dir), async ({ address }) => {
      await using exporter = await connectExporter(address);
      const storage = exporter.root.child("storage") as StorageMuxClient;
      const refused = await storage.write(generated(MIB)).catch((e) => e);
      assert.ok(refused instanceof DriverCallError);
      assert.match(
        refused.message,
        /write_sparse: the disk is connected to off; call host\(\) first/,
      );
      await storage.host();
      assert.equal(readFileSync(join(dir, "mux"), "utf8"), "host\n");
      let progress = 0;
      const result = await storage.write(generated(1024 * MIB), {
        onProgress: (b) => (progress = b),
      });
      assert.equal(result.bytes, 1024 * MIB);
      assert.equal(progress, 1024 * MIB);
      assert.equal(statSync(image).size, 1024 * MIB);
      assert.equal(await sha256Of(image), result.sha256, "what is on disk is what was hashed");
      // And back: the disk read into a local file matches what was written.
      const back = join(dir, "back.img");
      const read = await storage.read(back);
      assert.deepEqual(read, { bytes: result.bytes, sha256: result.sha256 });
      // A quarter of the generated blocks are zero: they did not travel.
      assert.ok(result.sent < result.bytes * 0.8, `sent ${result.sent} of ${result.bytes}`);
      assert.equal(await sha256Of(back), result.sha256);
      await storage.dut();
      assert.equal(readFileSync(join(dir, "mux"), "utf8"), "dut\n");
      const notNow = await storage.read(join(dir, "never.img")).catch((e) => e);
      assert.match(
        String(notNow.message),
        /read: the disk is connected to dut; call host\(\) first/,
      );
      assert.ok(!existsSync(join(dir, "never.img")) && !existsSync(join(dir, "never.img.partial")));
    });
  }),
);

Deno.test(
  "a transfer cancelled midway fails clearly and leaves the old image in place",
  withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    writeFileSync(image, "previous image\n");
    await withLocalExporter(config(image, dir), async ({ address }) => {
      await using exporter = await connectExporter(address);
      const storage = exporter.root.child("storage") as StorageMuxClient;
      await storage.host();
      const abort = new AbortController();
      const failed = await storage.write(generated(256 * MIB), {
        signal: abort.signal,
        onProgress: (bytes) => {
          if (bytes >= 32 * MIB) abort.abort();
        },
      }).catch((e) => e);
      assert.ok(failed instanceof Error, "the write reports the failure");
      assert.equal(readFileSync(image, "utf8"), "previous image\n", "the old image is untouched");
      // The exporter notices the cut on its own time; it then removes the partial file.
      for (let i = 0; i < 100 && existsSync(`${image}.partial`); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(!existsSync(`${image}.partial`), "no partial file is left");
      // The mux still works afterwards.
      const small = await storage.write(generated(3 * MIB));
      assert.equal(small.bytes, 3 * MIB);
    });
  }),
);

Deno.test("progress lines show amount, rate and time left", () => {
  const lines: string[] = [];
  const progress = new Progress("write", 4 * MIB, (t) => lines.push(t));
  progress.update(MIB);
  progress.done();
  assert.match(
    lines.at(-1)!,
    // The line ends by clearing the rest of the terminal line (ESC [K).
    // deno-lint-ignore no-control-regex
    /^\rwrite: 1\.0 MiB \/ 4\.0 MiB \(25%\), .*\/s, \d+ s left\x1b\[K\n$/,
  );
  assert.equal(formatBytes(1536), "1.5 KiB");
});

const COMPRESSORS_MISSING = toolMissing("gzip", "zstd", "xz");
Deno.test({
  name: `gzip, zstd and xz images travel compressed and are written unpacked, checked${
    COMPRESSORS_MISSING ? ` (ignored: ${COMPRESSORS_MISSING})` : ""
  }`,
  ignore: ignoreUnlessInstalled(COMPRESSORS_MISSING),
  fn: withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    const raw = new Uint8Array(3 * MIB).map((_, i) => (i >> 10) & 0xff);
    const plain = join(dir, "image.img");
    writeFileSync(plain, raw);
    const packed = ["gzip", "zstd", "xz"].map((tool) => {
      const suffix = { gzip: ".gz", zstd: ".zst", xz: ".xz" }[tool];
      writeFileSync(`${plain}${suffix}`, spawnSync(tool, ["-c", plain]).stdout);
      return `${plain}${suffix}`;
    });
    await withLocalExporter(config(image, dir), async ({ address }) => {
      await using exporter = await connectExporter(address);
      const storage = exporter.root.child("storage") as StorageMuxClient;
      await storage.host();
      for (const file of packed) {
        const result = await storage.write(file);
        assert.equal(result.route, "compressed", file);
        assert.equal(result.sent, statSync(file).size, `${file} travelled as it is`);
        assert.equal(result.bytes, raw.length, file);
        assert.deepEqual(new Uint8Array(readFileSync(image)), raw, file);
      }
      // Unpacked here instead: without all-zero blocks, when compression is not wanted.
      const local = await storage.write(packed[2], { compress: false });
      assert.equal(local.route, "sparse");
      assert.equal(local.sha256, createHash("sha256").update(raw).digest("hex"));
      for (const [name, bytes] of [["broken.img.gz", "not gzip at all"], ["cut.img.xz", ""]]) {
        const broken = join(dir, name);
        writeFileSync(
          broken,
          name.endsWith(".xz") ? readFileSync(packed[2]).subarray(0, 999) : bytes,
        );
        const err = await storage.write(broken).catch((e) => e);
        assert.ok(err instanceof Error, name);
        assert.deepEqual(new Uint8Array(readFileSync(image)), raw, `${name} changes nothing`);
      }
    });
  }),
});

Deno.test(
  "an exporter that does not accept the encoding gets the bytes unpacked by the client",
  withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    const raw = new Uint8Array(MIB).map((_, i) => (i * 3) & 0xff);
    await withLocalExporter(config(image, dir), async ({ address }) => {
      await using exporter = await connectExporter(address);
      const storage = exporter.root.child("storage") as StorageMuxClient;
      await storage.host();
      const gz = (async function* () {
        yield new Uint8Array(zlib.gzipSync(raw));
      })();
      // The client asks for gzip before its first await; the exporter, serving the stream
      // after it, then sees compression turned off and answers without accepting it.
      const opening = storage.sendResource(gz, { encoding: "gzip" });
      process.env.JMP_DISABLE_COMPRESSION = "1";
      try {
        const resource = await opening;
        assert.equal(resource.encoding, null);
        const [result, sent] = await Promise.all([
          storage.call("write", resource.handle),
          resource.finished,
        ]);
        assert.equal(sent, raw.length, "sent unpacked");
        assert.equal(
          (result as { sha256: string }).sha256,
          createHash("sha256").update(raw).digest("hex"),
        );
      } finally {
        delete process.env.JMP_DISABLE_COMPRESSION;
      }
    });
  }),
);

Deno.test(
  "a mostly empty image travels as a fraction of its size and stays sparse on disk",
  withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    async function* mostlyEmpty() {
      const data = new Uint8Array(MIB).fill(0x42);
      const empty = new Uint8Array(MIB);
      for (let i = 0; i < 512; i++) yield i % 128 === 0 ? data : empty; // 4 MiB of 512 MiB
    }
    await withLocalExporter(config(image, dir), async ({ address }) => {
      await using exporter = await connectExporter(address);
      const storage = exporter.root.child("storage") as StorageMuxClient;
      await storage.host();
      const result = await storage.write(mostlyEmpty());
      assert.equal(result.bytes, 512 * MIB);
      assert.ok(result.sent < 5 * MIB, `sent ${result.sent}`);
      assert.equal(statSync(image).size, 512 * MIB);
      assert.ok(statSync(image).blocks * 512 < 64 * MIB, "the empty blocks are holes in the file");
      assert.equal(await sha256Of(image), result.sha256);
      // Plain mode (what an upstream exporter gets) sends everything and gives the same image.
      const plain = await storage.write(mostlyEmpty(), { sparse: false });
      assert.equal(plain.sent, 512 * MIB);
      assert.equal(plain.sha256, result.sha256);
    });
  }),
);
