// Parses HCL2 (Terraform) on stdin with the npm package hcl2-parser (HashiCorp's HCL v2
// parser, through hcl2json) and prints it as JSON; exits 1 if it does not parse. The test
// suite parses `reachprobe check --remediation terraform` with it:
//   reachprobe check --config C --remediation terraform | node deploy/tools/hcl2json.mjs
import hcl from "hcl2-parser";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const [parsed, error] = hcl.parseToObject(input);
if (parsed === null || parsed === undefined || error) {
  console.error(`not valid HCL2: ${error && Object.keys(error).length ? JSON.stringify(error) : "parse failed"}`);
  process.exit(1);
}
console.log(JSON.stringify(parsed));
