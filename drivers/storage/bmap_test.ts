import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { connectExporter } from "../../client/mod.ts";
import { withLocalExporter } from "../../tests/fixtures/local_exporter.ts";
import { ignoreUnlessInstalled, toolMissing } from "../../tests/fixtures/optional_tools.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";
import {
  type Bmap,
  BmapChecksumError,
  BmapError,
  findBmap,
  mappedPieces,
  parseBmap,
} from "./bmap.ts";
import type { StorageMuxClient } from "./client.ts";
import { openImage } from "./image_transfer.ts";

const MIB = 1024 * 1024;
const MISSING = toolMissing("bmaptool", "xz");
const skip = MISSING ? ` (ignored: ${MISSING})` : "";
const ignore = ignoreUnlessInstalled(MISSING);

// A sparse image of `size` bytes with data only in `extents` ([offset, length] pairs), and the
// block map bmaptool makes of it.
function sparseImage(path: string, size: number, extents: [number, number][]): Bmap {
  writeFileSync(path, "");
  execFileSync("truncate", ["-s", String(size), path]);
  const fd = openSync(path, "r+");
  for (const [offset, length] of extents) {
    const data = new Uint8Array(length).map((_, i) => ((offset + i) * 13 + 5) & 0xff | 1);
    writeSync(fd, data, 0, length, offset);
  }
  closeSync(fd);
  writeFileSync(`${path}.bmap`, execFileSync("bmaptool", ["create", path]));
  return findBmap(path)!;
}

const EXPORTER = (image: string) => `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata: { name: bmap }
export:
  storage:
    type: StorageMux
    config: { path: ${image} }
`;

Deno.test({
  name: `a block map made by bmaptool is read: sizes, ranges and their checksums${skip}`,
  ignore,
  fn: withTempDir((dir) => {
    const bmap = sparseImage(join(dir, "disk.img"), 8 * MIB, [[40960, 20000], [5 * MIB, 4096]]);
    assert.equal(bmap.imageSize, 8 * MIB);
    assert.equal(bmap.blockSize, 4096);
    assert.equal(bmap.checksumType, "sha256");
    assert.deepEqual(bmap.ranges.map((r) => [r.first, r.last]), [[10, 14], [1280, 1280]]);
    assert.ok(bmap.ranges.every((r) => /^[0-9a-f]{64}$/.test(r.checksum ?? "")));
    assert.equal(bmap.mappedBytes, 6 * 4096);
  }),
});

Deno.test({
  name: `a damaged or foreign block map is refused with the file and the cause${skip}`,
  ignore,
  fn: withTempDir((dir) => {
    const image = join(dir, "disk.img");
    sparseImage(image, MIB, [[0, 4096]]);
    const xml = readFileSync(`${image}.bmap`, "utf8");
    assert.throws(
      () => parseBmap("x.bmap", xml.replace(/> 0 </, "> 1 <")),
      (e: Error) => e instanceof BmapError && /^x\.bmap: the file's checksum/.test(e.message),
    );
    assert.throws(() => parseBmap("y.bmap", "<html/>"), /^BmapError: y\.bmap: not a block map/);
    assert.throws(
      () => parseBmap("z.bmap", '<bmap version="3.0"><BlockSize>4096</BlockSize></bmap>'),
      /version 3\.0 is not supported/,
    );
    const v1 = `<bmap version="1.3"><ImageSize>8192</ImageSize><BlockSize>4096</BlockSize>
      <BlocksCount>2</BlocksCount><BlockMap><Range sha1="ab"> 1 </Range></BlockMap></bmap>`;
    const old = parseBmap("v1.bmap", v1);
    assert.equal(old.checksumType, "sha1");
    assert.deepEqual(old.ranges, [{ first: 1, last: 1, checksum: "ab" }]);
    assert.throws(
      () => parseBmap("r.bmap", v1.replace("> 1 <", "> 2 <")),
      /r\.bmap: range 2-2 is out of order/,
    );
  }),
});

Deno.test({
  name:
    `mapped pieces are the same whether read from the file or from its decompressed bytes${skip}`,
  ignore,
  fn: withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    const bmap = sparseImage(image, 3 * MIB + 100, [[1000, 70000], [3 * MIB, 100]]);
    execFileSync("xz", ["-k", "-1", image]);
    // The runs of contiguous bytes the pieces make (chunking may differ), as [start, sha1].
    const collect = async (source: string | AsyncIterable<Uint8Array>) => {
      const runs: { start: number; end: number; hash: ReturnType<typeof createHash> }[] = [];
      for await (const p of mappedPieces(bmap, source)) {
        const last = runs.at(-1);
        if (last && last.end === p.offset) last.hash.update(p.data);
        else runs.push({ start: p.offset, end: p.offset, hash: createHash("sha1").update(p.data) });
        runs.at(-1)!.end = p.offset + p.data.length;
      }
      return runs.map((r) => [r.start, r.end, r.hash.digest("hex")]);
    };
    const fromFile = await collect(image);
    assert.deepEqual(fromFile.map(([start, end]) => [start, end]), [[0, 73728], [
      3 * MIB,
      3 * MIB + 100,
    ]]);
    assert.deepEqual(await collect(openImage(`${image}.xz`)), await collect(image));
    // Joined by offset, the pieces cover exactly the mapped bytes.
    let bytes = 0;
    for await (const p of mappedPieces(bmap, image)) bytes += p.data.length;
    assert.equal(bytes, bmap.mappedBytes);
  }),
});

Deno.test({
  name: `with a block map beside it, only the mapped blocks of a 1 GiB image travel${skip}`,
  ignore,
  fn: withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    const bmap = sparseImage(image, 1024 * MIB, [[0, 3 * MIB], [512 * MIB, MIB], [
      1023 * MIB,
      512,
    ]]);
    const target = join(dir, "sdcard.img");
    await withLocalExporter(EXPORTER(target), async ({ address }) => {
      await using exporter = await connectExporter(address);
      const storage = exporter.root.child("storage") as StorageMuxClient;
      await storage.host();
      const result = await storage.write(image);
      assert.equal(result.route, "bmap");
      assert.equal(result.bytes, 1024 * MIB);
      assert.equal(result.skipped, 1024 * MIB - bmap.mappedBytes);
      assert.ok(result.sent < bmap.mappedBytes + 64 * 1024, `sent ${result.sent}`);
      assert.equal(statSync(target).size, 1024 * MIB);
      assert.ok(statSync(target).blocks * 512 < 64 * MIB, "unmapped blocks stay holes");
      execFileSync("cmp", [target, image]); // throws when they differ
    });
  }),
});

Deno.test({
  name:
    `an image that does not match its block map is refused and the target left as it was${skip}`,
  ignore,
  fn: withTempDir(async (dir) => {
    const image = join(dir, "disk.img");
    sparseImage(image, 4 * MIB, [[8192, 8192]]);
    const fd = openSync(image, "r+");
    writeSync(fd, new Uint8Array([0xee]), 0, 1, 9000); // changed after the map was made
    closeSync(fd);
    const target = join(dir, "sdcard.img");
    writeFileSync(target, "previous image");
    await withLocalExporter(EXPORTER(target), async ({ address }) => {
      await using exporter = await connectExporter(address);
      const storage = exporter.root.child("storage") as StorageMuxClient;
      await storage.host();
      const err = await storage.write(image).catch((e) => e);
      assert.ok(err instanceof BmapChecksumError, String(err));
      assert.match(err.message, /blocks 2-3 of the image do not match their sha256 in .*\.bmap/);
      assert.equal(readFileSync(target, "utf8"), "previous image");
      // Without the map (--no-bmap) the image is written as it is, its empty blocks left out.
      const without = await storage.write(image, { bmap: false });
      assert.equal(without.route, "sparse");
      execFileSync("cmp", [target, image]);
    });
  }),
});
