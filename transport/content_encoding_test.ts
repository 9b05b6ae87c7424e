import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ignoreUnlessInstalled, toolMissing } from "../tests/fixtures/optional_tools.ts";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import {
  decodeContent,
  encodingOfPath,
  isContentEncoding,
  stripEncodingSuffix,
  UnsupportedEncodingError,
} from "./content_encoding.ts";

async function* chunks(bytes: Uint8Array, size = 7000): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function digest(source: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of source) hash.update(chunk);
  return hash.digest("hex");
}

// Half random, half zeros: both the literal and the run-length paths of each decoder.
const plain = new Uint8Array([...randomBytes(300_000), ...new Uint8Array(700_000)]);
const plainSha = createHash("sha256").update(plain).digest("hex");

for (const [encoding, tool] of [["gzip", "gzip"], ["zstd", "zstd"], ["xz", "xz"]] as const) {
  const missing = toolMissing(tool);
  Deno.test({
    name: `${encoding} made by the ${tool} tool decodes to the original bytes${
      missing ? ` (ignored: ${missing})` : ""
    }`,
    ignore: ignoreUnlessInstalled(missing),
    fn: withTempDir(async (dir) => {
      const file = join(dir, "image");
      writeFileSync(file, plain);
      const packed = spawnSync(tool, ["-c", file]).stdout as Uint8Array;
      assert.ok(packed.length > 0 && packed.length < plain.length, `${tool} ran`);
      assert.equal(await digest(decodeContent(encoding, chunks(packed))), plainSha);
    }),
  });

  Deno.test(`corrupt ${encoding} data fails the read with the encoding named`, async () => {
    const garbage = new Uint8Array(randomBytes(50_000));
    await assert.rejects(
      digest(decodeContent(encoding, chunks(garbage))),
      (err: Error) => err.message.startsWith(`${encoding} data: `),
    );
  });
}

for (const encoding of ["gzip", "xz"] as const) {
  Deno.test(`an error of the source reaches the reader of ${encoding} data as it is`, async () => {
    const cut = new Error("disk gone");
    const failing = (async function* () {
      yield new Uint8Array(encoding === "gzip" ? [0x1f, 0x8b] : [0xfd, 0x37]);
      throw cut;
    })();
    await assert.rejects(digest(decodeContent(encoding, failing)), (err) => err === cut);
  });
}

Deno.test("names and suffixes of encodings", () => {
  assert.equal(encodingOfPath("a/disk.img.xz"), "xz");
  assert.equal(encodingOfPath("disk.img.gz"), "gzip");
  assert.equal(encodingOfPath("disk.img.zst"), "zstd");
  assert.equal(encodingOfPath("disk.img"), undefined);
  assert.equal(stripEncodingSuffix("disk.img.zst"), "disk.img");
  assert.equal(stripEncodingSuffix("disk.img"), "disk.img");
  assert.ok(isContentEncoding("gzip") && !isContentEncoding("bz2") && !isContentEncoding(null));
  assert.ok(!isContentEncoding("toString"));
});

Deno.test("an encoding this side does not know fails with its name", async () => {
  await assert.rejects(
    decodeContent("bz2" as "gzip", chunks(plain)).next(),
    (err: Error) => err instanceof UnsupportedEncodingError && err.message.includes('"bz2"'),
  );
});
