import { strict as assert } from "node:assert";
import { describeValue, Fields } from "./fields.ts";

const source = { file: "f.yaml", path: "export.power" };

Deno.test("expectKeys reports a misspelt key as unknown before any read", () => {
  const f = new Fields({ typ: "A" }, source);
  assert.throws(
    () => f.expectKeys(["type", "config"]),
    {
      message:
        'f.yaml: export.power: unknown key "typ" (did you mean "type"?); known keys: type, config',
    },
  );
});

Deno.test("expectKeys lets declared keys be read afterwards", () => {
  const f = new Fields({ type: "A" }, source);
  f.expectKeys(["type", "config"]);
  assert.equal(f.string("type"), "A");
  f.done();
});

Deno.test("choice names the accepted values when the key is missing", () => {
  assert.throws(() => new Fields({}, source).choice("mode", ["a", "b"]), {
    message: "f.yaml: export.power.mode: is required: must be one of a, b",
  });
  assert.throws(() => new Fields({}, source).choice("v", ["only"]), {
    message: 'f.yaml: export.power.v: is required: must be "only"',
  });
});

Deno.test("choice names the accepted values when the value is wrong", () => {
  assert.throws(() => new Fields({ mode: "c" }, source).choice("mode", ["a", "b"]), {
    message: 'f.yaml: export.power.mode: must be one of a, b, got "c"',
  });
  assert.throws(() => new Fields({ v: 2 }, source).choice("v", ["only"]), {
    message: 'f.yaml: export.power.v: must be "only", got 2',
  });
});

Deno.test("choice falls back to its default", () => {
  assert.equal(new Fields({}, source).choice("mode", ["a", "b"], { default: "b" }), "b");
});

Deno.test("describeValue names the kind of a value", () => {
  assert.equal(describeValue([1]), "a list");
  assert.equal(describeValue({}), "a mapping");
  assert.equal(describeValue(null), "null");
  assert.equal(describeValue("x"), '"x"');
});
