// JSON Schema helpers for the schemas pydantic produces: $ref/$defs, nullable unions,
// message types, widgets.

const MAX_DEPTH = 32;

/** Follow $ref (and single-element allOf), keeping the referring schema's own keys. */
export function resolve(schema, root) {
  let current = schema ?? {};
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (typeof current !== "object" || current === null) return {};
    if (typeof current.$ref === "string") {
      const { $ref, ...rest } = current;
      current = { ...lookup($ref, root), ...rest };
    } else if (Array.isArray(current.allOf) && current.allOf.length === 1) {
      const { allOf, ...rest } = current;
      current = { ...resolve(allOf[0], root), ...rest };
    } else {
      return current;
    }
  }
  return current;
}

function lookup(ref, root) {
  if (!ref.startsWith("#/")) return {};
  let node = root;
  for (const part of ref.slice(2).split("/")) {
    node = node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return node ?? {};
}

/** The union members of a schema (anyOf/oneOf), or null. */
export function variants(schema) {
  return schema.anyOf ?? schema.oneOf ?? null;
}

/** Split off "or null": {schema: the non-null part, nullable}. */
export function unwrapNullable(schema, root) {
  const resolved = resolve(schema, root);
  const members = variants(resolved);
  if (resolved.type === "null") return { schema: {}, nullable: true };
  if (Array.isArray(resolved.type) && resolved.type.includes("null")) {
    const types = resolved.type.filter((t) => t !== "null");
    return { schema: { ...resolved, type: types.length === 1 ? types[0] : types }, nullable: true };
  }
  if (!members) return { schema: resolved, nullable: false };
  const rest = members.filter((member) => resolve(member, root).type !== "null");
  if (rest.length === members.length) return { schema: resolved, nullable: false };
  const { anyOf, oneOf, ...own } = resolved;
  const inner = rest.length === 1 ? { ...resolve(rest[0], root), ...own } : { ...own, anyOf: rest };
  return { schema: inner, nullable: true };
}

const MESSAGE_TITLE = /Message(Chunk)?$/;

/** Whether a schema describes a chat message (or a union of message types). */
export function isMessage(schema, root) {
  const resolved = resolve(schema, root);
  const members = variants(resolved);
  if (members) return members.length > 0 && members.every((member) => isMessage(member, root));
  return resolved.type === "object" && MESSAGE_TITLE.test(resolved.title ?? "");
}

/** Whether a schema is a list of chat messages. */
export function isMessageList(schema, root) {
  const { schema: list } = unwrapNullable(schema, root);
  return list.type === "array" && list.items !== undefined && isMessage(list.items, root);
}

/** Whether a schema is a list of (string, string) pairs, e.g. list[tuple[str, str]]. */
export function isPairList(schema, root) {
  const { schema: list } = unwrapNullable(schema, root);
  if (list.type !== "array" || !list.items) return false;
  const pair = resolve(list.items, root);
  const parts = pair.prefixItems ?? (Array.isArray(pair.items) ? pair.items : null);
  return (
    Array.isArray(parts) &&
    parts.length === 2 &&
    parts.every((part) => resolve(part, root).type === "string")
  );
}

/** Whether a message schema (or union) can be an AI message. */
export function canBeAiMessage(schema, root) {
  const resolved = resolve(schema, root);
  const members = variants(resolved);
  if (members) return members.some((member) => canBeAiMessage(member, root));
  const type = resolve(resolved.properties?.type ?? {}, root);
  const values = [type.const, type.default, ...(type.enum ?? [])];
  return (
    values.includes("ai") || values.includes("AIMessageChunk") || resolved.title === "BaseMessage"
  );
}

/** The playground widget a field declares: {"extra": {"widget": {...}}} in its schema. */
export function widgetOf(schema) {
  const widget = schema?.extra?.widget ?? schema?.widget;
  return widget && typeof widget === "object" && typeof widget.type === "string" ? widget : null;
}

/** The JSON type a schema names, if a single one. */
export function typeOf(schema) {
  if (typeof schema.type === "string") return schema.type;
  if ("const" in schema) return typeof schema.const === "string" ? "string" : "const";
  if (Array.isArray(schema.enum)) return "enum";
  if (schema.properties) return "object";
  return null;
}

/** A JSON path of the chat widget: a key, an index or a list of those. */
export function pathParts(path) {
  if (path === undefined || path === null) return [];
  if (Array.isArray(path)) return path;
  if (typeof path === "object") return pathParts(path.path ?? path.oneOf?.[0]);
  return String(path).split(".").filter(Boolean);
}

/** Read a value at a JSON path; undefined if absent. */
export function getPath(value, path) {
  let node = value;
  for (const part of pathParts(path)) {
    if (node === null || typeof node !== "object") return undefined;
    node = node[part];
  }
  return node;
}
