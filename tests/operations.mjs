// What the node clients of the tests share: the base URL they are given and the
// operations (a JSON list) read from stdin.

export async function readOperations() {
  const [baseUrl] = process.argv.slice(2);
  if (!baseUrl) {
    console.error("usage: node client.mjs BASE_URL < operations.json");
    process.exit(2);
  }
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return [baseUrl.replace(/\/$/, ""), JSON.parse(Buffer.concat(chunks).toString("utf8"))];
}
