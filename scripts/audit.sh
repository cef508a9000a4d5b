#!/bin/sh
# `npm run audit`: npm audit over the locked dependency tree, failing on high and critical advisories.
# It never reports clean unless the registry answered: a registry that refuses the advisories
# endpoint (some mirrors and proxies answer 405) is one line and exit 2, not a pass. The manual
# review of the production tree, for machines where the endpoint is refused, is in
# docs/reliability.md ("Dependencies").
set -u
cd "$(dirname "$0")/.."
out=$(npm audit --audit-level=high --json 2>/dev/null)
rc=$?
printf '%s' "$out" | node -e '
let text = "";
process.stdin.on("data", (d) => { text += d; });
process.stdin.on("end", () => {
  const rc = Number(process.argv[1]);
  let j;
  try { j = JSON.parse(text); } catch { j = undefined; }
  const v = j && j.metadata && j.metadata.vulnerabilities;
  if (!v) {
    const e = j || {};
    const why = e.statusCode ? `the registry answered HTTP ${e.statusCode} to ${e.method || "POST"} ${e.uri || "the advisories endpoint"}` : ((e.error && e.error.summary) || e.message || `exit ${rc}, no report`);
    console.error(`audit: npm audit could not run (${String(why).split("\n")[0].slice(0, 200)}): no advisory data, so nothing is known to be clean; see docs/reliability.md "Dependencies"`);
    process.exit(2);
  }
  const high = (v.high || 0) + (v.critical || 0);
  console.log(`audit: ${v.critical || 0} critical, ${v.high || 0} high, ${v.moderate || 0} moderate, ${v.low || 0} low (${(j.metadata.dependencies && j.metadata.dependencies.total) || "?"} dependencies)`);
  if (high > 0) {
    for (const [name, a] of Object.entries(j.vulnerabilities || {})) if (a.severity === "high" || a.severity === "critical") console.log(`audit: ${a.severity} ${name} ${a.range}${a.fixAvailable ? " (fix available)" : ""}`);
    process.exit(1);
  }
}
);' "$rc"
