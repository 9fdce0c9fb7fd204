// Talking to the runnable's endpoints: every request carries the headers the person
// entered in Settings, and every failure becomes an ApiError with a readable message.

const HEADERS_KEY = "chainserve.playground.headers";
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The headers saved in this browser: [{name, value}]. */
export function loadHeaders() {
  try {
    const rows = JSON.parse(localStorage.getItem(HEADERS_KEY) || "[]");
    return Array.isArray(rows) ? rows.filter((row) => row && isHeaderName(row.name)) : [];
  } catch {
    return [];
  }
}

/** Save the headers (browser only: localStorage, never sent anywhere but this server). */
export function saveHeaders(rows) {
  const kept = rows
    .map(({ name, value }) => ({ name: name.trim(), value }))
    .filter((row) => row.name);
  localStorage.setItem(HEADERS_KEY, JSON.stringify(kept));
}

export function isHeaderName(name) {
  return typeof name === "string" && HEADER_NAME.test(name.trim());
}

/** A failed request, with a message meant for a person. */
export class ApiError extends Error {
  constructor(status, message, payload = null) {
    super(message);
    this.status = status;
    this.payload = payload;
  }

  get needsAuth() {
    return this.status === 401 || this.status === 403;
  }
}

/** The runnable's endpoints, relative to its base URL (which ends with "/"). */
export class Api {
  constructor(base) {
    this.base = base;
  }

  url(path) {
    return new URL(path, this.base).href;
  }

  async request(path, { method = "GET", body, signal } = {}) {
    const headers = {};
    for (const { name, value } of loadHeaders()) headers[name.trim()] = value;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(this.url(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, `Could not reach the server: ${err.message}`);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async json(path, options) {
    return (await this.request(path, options)).json();
  }

  /** POST and yield the answer's server-sent events as {event, data}. */
  async *events(path, body, signal) {
    const response = await this.request(path, { method: "POST", body, signal });
    yield* parseEventStream(response.body);
  }
}

async function errorFrom(response) {
  const text = await response.text().catch(() => "");
  let payload = null;
  try {
    payload = JSON.parse(text);
  } catch {
    // not JSON: the text itself is shown
  }
  return new ApiError(response.status, describeError(response.status, payload, text), payload);
}

/** A readable message for an error answer. */
export function describeError(status, payload, text = "") {
  const detail = payload?.detail;
  if (status === 401 || status === 403) {
    const why = typeof detail === "string" ? `: ${detail}` : "";
    return (
      `The server refused access (${status}${why}). This route needs credentials: ` +
      "open Settings and add the header it expects (for example x-api-key)."
    );
  }
  if (Array.isArray(detail)) {
    const lines = detail.map(
      (item) => `• ${formatLoc(item.loc)}${item.msg ?? JSON.stringify(item)}`,
    );
    return `The server rejected the request (${status}):\n${lines.join("\n")}`;
  }
  if (payload?.type === "runnable_error" || payload?.type === "serialization_error") {
    const what =
      payload.type === "runnable_error"
        ? "The runnable raised an error"
        : "The output could not be serialized";
    const more = payload.exception ? `\n${payload.exception}` : " Details are in the server log.";
    return `${what} (${status}).${more}`;
  }
  if (typeof detail === "string") return `Error ${status}: ${detail}`;
  if (typeof payload?.message === "string") return `Error ${status}: ${payload.message}`;
  return `Error ${status}${text ? `: ${text.slice(0, 300)}` : ""}`;
}

function formatLoc(loc) {
  return Array.isArray(loc) && loc.length ? `${loc.join(" › ")}: ` : "";
}

/** Parse a text/event-stream body into {event, data} objects. */
export async function* parseEventStream(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let carry = ""; // a "\r" that may be the first half of a "\r\n" split across chunks
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    let text = carry + value;
    carry = text.endsWith("\r") ? "\r" : "";
    if (carry) text = text.slice(0, -1);
    buffer += text.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) yield event;
    }
  }
  const last = parseEvent(buffer + carry.replace("\r", ""));
  if (last) yield last;
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length && event === "message") return null;
  return { event, data: data.join("\n") };
}
