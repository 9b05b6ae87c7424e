// The one error type of configuration problems: which file, where in it, and what is wrong.

// Keys and values quoted from a file may hold line breaks; the message is read as one line.
const LINE_BREAKS: Record<string, string> = {
  "\n": "\\n",
  "\r": "\\r",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

function oneLine(text: string): string {
  return text.replace(/[\n\r\u2028\u2029]/g, (c) => LINE_BREAKS[c]);
}

/**
 * A configuration file that cannot be used as written. The message reads
 * `FILE: export.serial.config.baudrate: must be a number, got "fast"`.
 */
export class ConfigError extends Error {
  /** The file, or a description of where the configuration came from. */
  readonly file: string;
  /** The YAML path of the offending value (`export.power.type`), empty for the whole file. */
  readonly path: string;
  /** What is wrong, without the file and path. */
  readonly problem: string;

  /** Creates an error for `path` in `file`; line breaks from the file are escaped in the message. */
  constructor(file: string, path: string, cause: string) {
    super(oneLine(`${file}: ${path ? `${path}: ` : ""}${cause}`));
    this.name = "ConfigError";
    this.file = file;
    this.path = path;
    this.problem = cause;
  }
}

/**
 * An exporter or client alias that cannot name a configuration file. It is a ConfigError whose
 * `file` describes the alias, so callers that report ConfigErrors report this one too.
 *
 * @example
 * ```ts
 * new AliasError("a/b", 'must not contain "/" or "\\"').message;
 * // 'alias "a/b": must not contain "/" or "\"'
 * ```
 */
export class AliasError extends ConfigError {
  /** The rejected alias. */
  readonly alias: string;

  /** Creates an error for `alias`. */
  constructor(alias: string, problem: string) {
    super(`alias "${alias}"`, "", problem);
    this.name = "AliasError";
    this.alias = alias;
  }
}
