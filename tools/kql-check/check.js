#!/usr/bin/env node
// KQL checker for sigmapack, built on Microsoft's Kusto.Language
// (npm @kusto/language-service-next, pinned in package-lock.json).
//
// Setup: npm ci --prefix tools/kql-check
//
// Usage: node tools/kql-check/check.js < request.json
//
// The request (JSON on stdin):
//   {
//     "schema": "converter/data/mde_schema.json",  // required
//     "files": ["output/kql/a.kql", ...],          // optional, default []
//     "queries": [{"name": "q1", "text": "..."}],  // optional, default []
//     "analyzers": true                            // optional, default true
//   }
// Relative paths are resolved against the current working directory.
// The schema file maps each table name to a list of [column, type] pairs,
// e.g. {"DeviceProcessEvents": [["Timestamp", "datetime"], ...]}.
// Each file or query is analyzed as one whole query: `//` comments, `let`
// statements ending in `;` and the final tabular expression belong to the
// same KustoCode, so names bound by `let` are visible to the query below.
//
// The response (JSON on stdout, exit code 0 even when diagnostics exist):
//   {
//     "checker": "@kusto/language-service-next",
//     "version": "12.4.1",
//     "schema": "<schema path as given>",
//     "tables": 4,
//     "results": [
//       {
//         "file": "<path as given>",      // "name" instead of "file" for queries
//         "errors": 1,                    // diagnostics with severity "Error"
//         "result_kind": "table",         // "table" | "scalar" | null (no query)
//         "diagnostics": [
//           {
//             "severity": "Error",        // "Error" | "Warning" | "Suggestion"
//             "code": "KS142",
//             "category": "General",
//             "message": "The name 'Foo' does not refer to ...",
//             "source": "compiler",       // "compiler" (parser and binder) | "analyzer"
//             "line": 3,                  // 1-based; null when the diagnostic has no location
//             "column": 29,               // 1-based, counted in code points; null likewise
//             "start": 57,                // 0-based offset into the text (UTF-16 units)
//             "length": 3
//           }
//         ]
//       }
//     ]
//   }
// Results come in request order: files first, then queries. Diagnostics
// are sorted by offset. "compiler" diagnostics come from
// KustoCode.ParseAndAnalyze(...).GetDiagnostics(). "analyzer" ones come
// from the Kusto.Language.Editor analyzers (KS5xx codes, such as KS500
// for `contains`), which in 12.4.1 report only warnings and suggestions.
//
// NOTE: Kusto.Language 12.4.1 reports no error for `==` or `in` between a
// long, int, bool or datetime column and a string literal (such as
// `ProcessId == "4"`), although `has`, `contains` and `>` on them are errors.
//
// Exit codes: 0 when the check ran, 2 when the request, the schema or a
// file is missing or invalid, 3 when Kusto.Language is not installed.
// For 2 and 3 the reason goes to stderr and nothing goes to stdout.

"use strict";

const fs = require("fs");

const PACKAGE = "@kusto/language-service-next";

class RequestError extends Error {}

// Returns the type names of the MDE schema docs mapped to Kusto.Language scalar types.
function scalarTypeMap(scalarTypes) {
  return new Map([
    ["string", scalarTypes.String],
    ["datetime", scalarTypes.DateTime],
    ["date", scalarTypes.DateTime],
    ["long", scalarTypes.Long],
    ["int", scalarTypes.Int],
    ["bool", scalarTypes.Bool],
    ["boolean", scalarTypes.Bool],
    ["dynamic", scalarTypes.Dynamic],
    ["real", scalarTypes.Real],
    ["double", scalarTypes.Real],
    ["decimal", scalarTypes.Decimal],
    ["timespan", scalarTypes.TimeSpan],
    ["guid", scalarTypes.Guid],
  ]);
}

function loadKusto() {
  let version;
  try {
    // bridge.js defines the global Bridge runtime that the Kusto.Language
    // bundle needs, so it loads first. The bundle defines the global Kusto.
    require(`${PACKAGE}/bridge.js`);
    require(PACKAGE);
    version = require(`${PACKAGE}/package.json`).version;
  } catch (err) {
    const reason = err && err.code === "MODULE_NOT_FOUND" ? "package not found" : String(err);
    process.stderr.write(
      `kql-check: failed to load ${PACKAGE}: ${reason}\n` +
        "Run: npm ci --prefix tools/kql-check\n",
    );
    process.exit(3);
  }
  return { language: global.Kusto.Language, bridge: global.Bridge, version };
}

function readStdin() {
  try {
    return fs.readFileSync(0, "utf8");
  } catch (err) {
    throw new RequestError(`failed to read the request from stdin: ${err.message}`);
  }
}

function readText(path, label) {
  let text;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (err) {
    throw new RequestError(`failed to read ${label} ${JSON.stringify(path)}: ${err.message}`);
  }
  // A byte order mark is not part of the query.
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function parseRequest(raw) {
  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new RequestError(`invalid request: stdin is not valid JSON: ${err.message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new RequestError("invalid request: expected a JSON object");
  }
  const known = new Set(["schema", "files", "queries", "analyzers"]);
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) {
      throw new RequestError(`invalid request: unknown field ${JSON.stringify(key)}`);
    }
  }
  if (typeof parsed.schema !== "string" || parsed.schema === "") {
    throw new RequestError('invalid request: "schema" must be the path of the MDE schema JSON file');
  }

  const files = parsed.files === undefined ? [] : parsed.files;
  const isPath = (file) => typeof file === "string" && file !== "";
  if (!Array.isArray(files) || !files.every(isPath)) {
    throw new RequestError('invalid request: "files" must be a list of file paths');
  }
  const queries = parsed.queries === undefined ? [] : parsed.queries;
  const isQuery = (query) =>
    query !== null &&
    typeof query === "object" &&
    typeof query.name === "string" &&
    typeof query.text === "string";
  if (!Array.isArray(queries) || !queries.every(isQuery)) {
    throw new RequestError(
      'invalid request: "queries" must be a list of {"name": string, "text": string} objects',
    );
  }
  const analyzers = parsed.analyzers === undefined ? true : parsed.analyzers;
  if (typeof analyzers !== "boolean") {
    throw new RequestError('invalid request: "analyzers" must be true or false');
  }
  return { schema: parsed.schema, files, queries, analyzers };
}

function buildGlobals(language, schemaPath) {
  let schema;
  try {
    schema = JSON.parse(readText(schemaPath, "schema file"));
  } catch (err) {
    if (err instanceof RequestError) throw err;
    throw new RequestError(`invalid schema file ${JSON.stringify(schemaPath)}: ${err.message}`);
  }
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
    throw new RequestError("invalid schema: expected an object mapping table names to column lists");
  }

  const symbols = language.Symbols;
  const types = scalarTypeMap(symbols.ScalarTypes);
  const tables = [];
  for (const [tableName, columns] of Object.entries(schema)) {
    const where = `invalid schema: table ${tableName}`;
    if (!Array.isArray(columns) || columns.length === 0) {
      throw new RequestError(`${where}: expected a non-empty list of [name, type]`);
    }
    const seen = new Set();
    const columnSymbols = columns.map((entry, index) => {
      const isPair =
        Array.isArray(entry) && entry.length === 2 && entry.every((part) => typeof part === "string");
      if (!isPair) {
        throw new RequestError(`${where}, column #${index + 1}: expected [name, type]`);
      }
      const [name, typeName] = entry;
      const type = types.get(typeName.toLowerCase());
      if (!type) {
        throw new RequestError(`${where}, column ${name}: unknown type ${JSON.stringify(typeName)}`);
      }
      if (seen.has(name)) {
        throw new RequestError(`${where}: column ${name} is listed twice`);
      }
      seen.add(name);
      return new symbols.ColumnSymbol(name, type, null, null, null, null);
    });
    tables.push(new symbols.TableSymbol.$ctor4(tableName, columnSymbols));
  }
  const database = new symbols.DatabaseSymbol.$ctor1("mde", tables, false);
  return {
    globals: language.GlobalState.Default.WithDatabase(database),
    tableCount: tables.length,
  };
}

// Returns the offset where each line starts. A line ends at \r\n, \n or \r.
function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) continue;
    if (c === 0x0a || c === 0x0d) starts.push(i + 1);
  }
  return starts;
}

// Returns the 1-based line and column of an offset, counting the column in code points.
function position(text, starts, offset) {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle] <= offset) low = middle;
    else high = middle - 1;
  }
  const column = Array.from(text.slice(starts[low], offset)).length + 1;
  return { line: low + 1, column };
}

// Returns "table" for a tabular query (`print` included), "scalar" for an expression
// such as `1 + 1`, and null when the text has only comments or `let` statements.
function resultKind(language, bridge, code) {
  const type = code.ResultType;
  if (type === null || type === undefined) return null;
  return bridge.is(type, language.Symbols.TableSymbol) ? "table" : "scalar";
}

function analyze(language, bridge, globals, text, withAnalyzers) {
  const code = language.KustoCode.ParseAndAnalyze(text, globals);
  const found = bridge.toArray(code.GetDiagnostics()).map((d) => ({ d, source: "compiler" }));
  if (withAnalyzers) {
    const service = new language.Editor.KustoCodeService.ctor(code);
    for (const d of bridge.toArray(service.GetAnalyzerDiagnostics(true))) {
      found.push({ d, source: "analyzer" });
    }
  }
  const starts = lineStarts(text);
  const diagnostics = found.map(({ d, source }) => {
    const where = d.HasLocation ? position(text, starts, d.Start) : { line: null, column: null };
    return {
      severity: d.Severity,
      code: d.Code,
      category: d.Category,
      message: d.Message,
      source,
      line: where.line,
      column: where.column,
      start: d.HasLocation ? d.Start : null,
      length: d.HasLocation ? d.Length : null,
    };
  });
  diagnostics.sort((a, b) => (a.start ?? -1) - (b.start ?? -1));
  const errors = diagnostics.filter((d) => d.severity === language.DiagnosticSeverity.Error).length;
  return { errors, result_kind: resultKind(language, bridge, code), diagnostics };
}

function main() {
  let request;
  let texts;
  try {
    request = parseRequest(readStdin());
    texts = request.files.map((file) => ({ key: "file", id: file, text: readText(file, "file") }));
    for (const query of request.queries) {
      texts.push({ key: "name", id: query.name, text: query.text });
    }
  } catch (err) {
    if (!(err instanceof RequestError)) throw err;
    process.stderr.write(`kql-check: ${err.message}\n`);
    return 2;
  }
  const { language, bridge, version } = loadKusto();
  let built;
  try {
    built = buildGlobals(language, request.schema);
  } catch (err) {
    if (!(err instanceof RequestError)) throw err;
    process.stderr.write(`kql-check: ${err.message}\n`);
    return 2;
  }
  const results = texts.map(({ key, id, text }) => ({
    [key]: id,
    ...analyze(language, bridge, built.globals, text, request.analyzers),
  }));
  const response = {
    checker: PACKAGE,
    version,
    schema: request.schema,
    tables: built.tableCount,
    results,
  };
  process.stdout.write(`${JSON.stringify(response, null, 1)}\n`);
  return 0;
}

process.exitCode = main();
