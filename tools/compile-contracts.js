// Compiles contracts/*.sol with the pinned solc-js and writes
// contracts/<Name>.json (ABI and creation bytecode). With --check, compiles
// and fails if the committed JSON differs: the bytecode in the repository
// must be exactly what its source compiles to.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const dir = path.join(__dirname, "..", "contracts");
const check = process.argv.includes("--check");
const sources = {};
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(dir, file), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    // No metadata hash: the bytecode then depends on the source alone, not on file paths.
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
let stale = 0;
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    const artifact = {
      contract: name,
      source: `contracts/${file}`,
      compiler: `solc-js ${solc.version()}`,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
    };
    const text = JSON.stringify(artifact, null, 2) + "\n";
    const out = path.join(dir, `${name}.json`);
    if (check) {
      const committed = fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "";
      if (committed !== text) {
        console.error(`contracts/${name}.json does not match contracts/${file}; run: node tools/compile-contracts.js`);
        stale++;
      } else {
        console.log(`contracts/${name}.json matches its source (${artifact.compiler})`);
      }
    } else {
      fs.writeFileSync(out, text);
      console.log(`wrote contracts/${name}.json (${artifact.compiler})`);
    }
  }
}
process.exit(stale ? 1 : 0);
