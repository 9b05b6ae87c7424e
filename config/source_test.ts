import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "./errors.ts";
import { parseYaml, readConfigFile } from "./source.ts";

function yamlError(text: string): string {
  try {
    parseYaml(text, "f.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  return assert.fail("expected a YAML error");
}

Deno.test("parseYaml returns plain values in file order", () => {
  assert.deepEqual(parseYaml("b: 1\na: [x, {c: true}]\n", "f.yaml"), {
    b: 1,
    a: ["x", { c: true }],
  });
  assert.deepEqual(Object.keys(parseYaml("z: 1\na: 2\nm: 3\n", "f.yaml") as object), [
    "z",
    "a",
    "m",
  ]);
});

Deno.test("parseYaml reads an empty document as null", () => {
  assert.equal(parseYaml("", "f.yaml"), null);
  assert.equal(parseYaml("# only a comment\n", "f.yaml"), null);
});

Deno.test("parseYaml resolves anchors and aliases", () => {
  assert.deepEqual(parseYaml("a: &x {n: 1}\nb: *x\n", "f.yaml"), { a: { n: 1 }, b: { n: 1 } });
});

Deno.test("a YAML syntax error is one line naming file, line:column and reason", () => {
  assert.equal(
    yamlError("a: 1\nb: [1, 2\n"),
    "f.yaml: invalid YAML at 3:1: Flow sequence in block collection must be sufficiently indented and end with a ]",
  );
  assert.equal(
    yamlError("a: 1\n  b: 2\n"),
    "f.yaml: invalid YAML at 1:4: Nested mappings are not allowed in compact mappings",
  );
});

Deno.test("several documents in one file are an error", () => {
  assert.match(
    yamlError("a: 1\n---\nb: 2\n"),
    /^f\.yaml: invalid YAML at 2:1: Source contains multiple documents/,
  );
});

Deno.test("a list or mapping used as a key is an error at its position", () => {
  assert.equal(
    yamlError("ok: 1\n[a, b]: 2\n"),
    "f.yaml: invalid YAML at 2:1: a mapping key must be a plain value, not a list or mapping",
  );
});

Deno.test("too many aliases are refused", () => {
  const text = "a: &a [x]\nb: [" + Array(2000).fill("*a").join(", ") + "]\n";
  assert.match(yamlError(text), /^f\.yaml: invalid YAML: /);
});

Deno.test("readConfigFile returns the text and reports a missing file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-config-source-"));
  try {
    const file = join(dir, "a.yaml");
    writeFileSync(file, "a: 1\n");
    assert.equal(await readConfigFile(file), "a: 1\n");
    await assert.rejects(readConfigFile(join(dir, "none.yaml")), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${join(dir, "none.yaml")}: cannot read: no such file`);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
