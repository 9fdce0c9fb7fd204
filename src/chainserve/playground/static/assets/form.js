// A form generated from a JSON schema. Every field is {el, get(), set(value)}; get()
// returns undefined for an optional field left empty, so it is left out of the input.

import { h, preview, pretty } from "./dom.js";
import {
  getPath,
  isMessageList,
  isPairList,
  pathParts,
  resolve,
  typeOf,
  unwrapNullable,
  variants,
  widgetOf,
} from "./schema.js";
import { fileWidget, messagesEditor, pairsEditor, textOf, toMessage } from "./widgets.js";

let nextId = 0;

/** A value the person typed that cannot be sent, with where it is. */
export class FieldError extends Error {
  constructor(path, message) {
    super(`${path.length ? path.join(" › ") : "input"}: ${message}`);
  }
}

/** Build the form for a schema. Returns {el, get, set, afterRun(input, output)}. */
export function buildForm(schema, { label = "Input", bare = true, flatten = null } = {}) {
  const form = { fields: new Map(), chatWidgets: [], flatten };
  const field = buildField(schema ?? {}, schema ?? {}, form, {
    path: [],
    label,
    required: true,
    bare,
  });
  return {
    el: field.el,
    get: field.get,
    set: field.set,
    afterRun: (input, output) => applyChatWidgets(form, input, output),
  };
}

function buildField(schema, root, form, ctx) {
  const { schema: inner, nullable } = unwrapNullable(schema, root);
  const required = ctx.required && !nullable;
  const id = `f${nextId++}`;
  const control = buildControl(inner, root, form, { ...ctx, required, id });
  const field = { ...control, el: shell(inner, ctx, control, id, required) };
  form.fields.set(ctx.path.join("."), field);
  const initial = "default" in inner && inner.default !== null ? inner.default : undefined;
  if (initial !== undefined) field.set(structuredClone(initial));
  return field;
}

function buildControl(schema, root, form, ctx) {
  const widget = widgetOf(schema);
  if (widget?.type === "base64file") return fileWidget(ctx);
  if (widget?.type === "chat") return chatWidget(schema, root, form, ctx, widget);
  if (isMessageList(schema, root)) return optional(messagesEditor(), ctx);
  if (isPairList(schema, root)) return optional(pairsEditor(), ctx);
  if (Array.isArray(schema.enum)) return enumControl(schema.enum, ctx);
  switch (typeOf(schema)) {
    case "string":
      return "const" in schema ? constControl(schema.const) : textControl(schema, ctx);
    case "integer":
    case "number":
      return numberControl(schema, ctx);
    case "boolean":
      return booleanControl(ctx);
    case "object":
      if (schema.properties && Object.keys(schema.properties).length)
        return objectControl(schema, root, form, ctx);
      break;
    case "array":
      if (schema.items && !variants(resolve(schema.items, root)))
        return arrayControl(schema, root, form, ctx);
      break;
    case "const":
      return constControl(schema.const);
    default:
  }
  return jsonControl(schema, root, ctx);
}

/** A field's frame: label, badges, description, examples, then the control. */
function shell(schema, ctx, control, id, required) {
  if (ctx.bare) return control.el;
  const title = schema.title && !/^(Root|Input)$/.test(schema.title) ? schema.title : ctx.label;
  const kind = kindLabel(schema);
  const examples = Array.isArray(schema.examples) ? schema.examples : [];
  return h(
    "div",
    { class: "field", dataset: { path: ctx.path.join(".") } },
    h(
      "div",
      { class: "field-head" },
      h("label", { for: id }, title),
      kind && h("span", { class: "badge" }, kind),
      !required &&
        !("default" in schema && schema.default !== null) &&
        h("span", { class: "badge muted" }, "optional"),
    ),
    schema.description && h("p", { class: "help" }, firstParagraph(schema.description)),
    control.el,
    examples.length > 0 &&
      h(
        "div",
        { class: "examples" },
        h("span", { class: "muted" }, "Examples:"),
        examples
          .slice(0, 5)
          .map((example) =>
            h(
              "button",
              {
                type: "button",
                class: "chip",
                title: pretty(example),
                onClick: () => control.set(structuredClone(example)),
              },
              preview(example, 40),
            ),
          ),
      ),
  );
}

function kindLabel(schema) {
  if (widgetOf(schema)) return widgetOf(schema).type === "chat" ? "chat" : "file";
  const type = typeOf(schema);
  return ["string", "integer", "number", "boolean"].includes(type) ? type : null;
}

function firstParagraph(text) {
  return String(text).split(/\n\s*\n/)[0];
}

function textControl(schema, ctx) {
  const el = h("textarea", {
    id: ctx.id,
    rows: 1,
    class: "text-input",
    placeholder: schema.examples?.length
      ? `e.g. ${preview(schema.examples[0], 60)}`
      : ctx.path.length === 0
        ? "Type the input text, then press Run."
        : "",
  });
  return {
    el,
    get: () => (el.value === "" && !ctx.required ? undefined : el.value),
    set: (value) => {
      el.value =
        value === undefined || value === null
          ? ""
          : typeof value === "string"
            ? value
            : JSON.stringify(value);
    },
  };
}

function numberControl(schema, ctx) {
  const integer = typeOf(schema) === "integer";
  const el = h("input", {
    id: ctx.id,
    type: "number",
    step: integer ? "1" : "any",
    min: schema.minimum,
    max: schema.maximum,
  });
  return {
    el,
    get: () => {
      if (el.value === "") {
        if (ctx.required) throw new FieldError(ctx.path, "a number is required");
        return undefined;
      }
      const value = Number(el.value);
      if (integer && !Number.isInteger(value))
        throw new FieldError(ctx.path, "must be a whole number");
      return value;
    },
    set: (value) => (el.value = value === undefined || value === null ? "" : String(value)),
  };
}

function booleanControl(ctx) {
  const el = h("input", { id: ctx.id, type: "checkbox" });
  return {
    el: h("label", { class: "switch" }, el, h("span", {}, "true / false")),
    get: () => el.checked,
    set: (value) => (el.checked = Boolean(value)),
  };
}

function enumControl(values, ctx) {
  const el = h(
    "select",
    { id: ctx.id },
    !ctx.required && h("option", { value: "" }, "— not set —"),
    values.map((value, index) =>
      h(
        "option",
        { value: String(index) },
        typeof value === "string" ? value : JSON.stringify(value),
      ),
    ),
  );
  return {
    el,
    get: () => (el.value === "" ? undefined : values[Number(el.value)]),
    set: (value) => {
      const index = values.findIndex((v) => JSON.stringify(v) === JSON.stringify(value));
      el.value = index < 0 ? (ctx.required ? "0" : "") : String(index);
    },
  };
}

function constControl(value) {
  return {
    el: h("code", { class: "const" }, JSON.stringify(value)),
    get: () => value,
    set: () => {},
  };
}

function objectControl(schema, root, form, ctx) {
  const required = new Set(schema.required ?? []);
  const children = Object.entries(schema.properties).map(([key, child]) => [
    key,
    buildField(child, root, form, {
      path: [...ctx.path, key],
      label: key,
      required: required.has(key),
      bare: ctx.path.length === 0 && key === form.flatten,
    }),
  ]);
  const nested = ctx.path.length > 0 && !ctx.bare;
  const el = h(
    "div",
    { class: nested ? "object nested" : "object" },
    children.map(([, field]) => field.el),
  );
  return {
    el,
    get: () => {
      const value = {};
      for (const [key, field] of children) {
        const child = field.get();
        if (child !== undefined) value[key] = child;
      }
      return !ctx.required && Object.keys(value).length === 0 ? undefined : value;
    },
    set: (value) => {
      if (!value || typeof value !== "object") return;
      for (const [key, field] of children) if (key in value) field.set(value[key]);
    },
  };
}

function arrayControl(schema, root, form, ctx) {
  const list = h("div", { class: "array-items" });
  const items = [];
  const addItem = (value) => {
    const field = buildField(schema.items, root, form, {
      path: [...ctx.path, items.length],
      label: `Item ${items.length + 1}`,
      required: true,
    });
    if (value !== undefined) field.set(value);
    const entry = { field };
    entry.el = h(
      "div",
      { class: "array-item" },
      field.el,
      h(
        "button",
        {
          type: "button",
          class: "icon-button",
          title: "Remove item",
          onClick: () => {
            items.splice(items.indexOf(entry), 1);
            entry.el.remove();
          },
        },
        "×",
      ),
    );
    items.push(entry);
    list.append(entry.el);
  };
  const el = h(
    "div",
    { class: "array" },
    list,
    h(
      "button",
      { type: "button", class: "button small secondary", onClick: () => addItem() },
      "+ Add item",
    ),
  );
  return optional(
    {
      el,
      get: () => items.map((entry) => entry.field.get()),
      set: (values) => {
        items.splice(0).forEach((entry) => entry.el.remove());
        (Array.isArray(values) ? values : []).forEach((value) => addItem(value));
      },
    },
    ctx,
  );
}

/** Raw JSON for anything the form cannot model (unions, free-form dicts, any). */
function jsonControl(schema, root, ctx) {
  const el = h("textarea", {
    id: ctx.id,
    rows: 2,
    class: "json-input",
    spellcheck: "false",
    placeholder: jsonHint(schema, root),
  });
  return {
    el,
    get: () => {
      if (el.value.trim() === "") {
        if (ctx.required && ctx.path.length)
          throw new FieldError(ctx.path, "a JSON value is required");
        return ctx.required ? null : undefined;
      }
      try {
        return JSON.parse(el.value);
      } catch (err) {
        // A person types words, not JSON: where a string is allowed, take them as one.
        if (acceptsString(schema)) return el.value;
        throw new FieldError(ctx.path, `not valid JSON (${err.message})`);
      }
    },
    set: (value) => (el.value = value === undefined ? "" : JSON.stringify(value, null, 2)),
  };
}

/** Whether a schema admits a string: untyped (any value), or a string among its types. */
function acceptsString(schema) {
  if (!schema || typeof schema !== "object") return true;
  const types = [].concat(schema.type ?? []);
  if (types.includes("string")) return true;
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return variants.some((variant) => variant.type === "string");
  return types.length === 0 && !schema.$ref && !schema.enum && !schema.const;
}

function jsonHint(schema, root) {
  const members = variants(schema);
  if (members)
    return `JSON: one of ${members.map((m) => resolve(m, root).title ?? resolve(m, root).type ?? "value").join(", ")}`;
  return schema.type ? `JSON ${schema.type}` : 'Any JSON value, e.g. "text", 42 or {"key": 1}';
}

/** An optional list left empty is omitted rather than sent as []. */
function optional(control, ctx) {
  if (ctx.required) return control;
  return {
    ...control,
    get: () => {
      const value = control.get();
      return Array.isArray(value) && value.length === 0 ? undefined : value;
    },
  };
}

/** The chat widget: a transcript editor that a successful run extends. */
function chatWidget(schema, root, form, ctx, widget) {
  const pairs = isPairList(schema, root);
  const control = pairs ? pairsEditor({ chat: true }) : messagesEditor({ chat: true });
  form.chatWidgets.push({ path: ctx.path, widget, control, pairs });
  return control;
}

function applyChatWidgets(form, input, output) {
  for (const { path, widget, control, pairs } of form.chatWidgets) {
    const inputPath = pathParts(widget.input);
    const outputPath = pathParts(widget.output);
    const reply = outputPath.length ? getPath(output, outputPath) : output;
    const separateInput = inputPath.length > 0 && inputPath.join(".") !== path.join(".");
    const question = separateInput ? getPath(input, inputPath) : undefined;
    const history = control.get();
    if (pairs) {
      if (question === undefined) continue;
      control.set([...history, [textOf(question), textOf(reply)]]);
    } else {
      const added = question === undefined ? [] : [{ type: "human", content: textOf(question) }];
      const answers = Array.isArray(reply) ? reply : [reply];
      const replies = answers.map((m) =>
        typeof m === "string" ? { type: "ai", content: m } : toMessage(m),
      );
      control.set([...history, ...added, ...replies]);
    }
    if (separateInput) form.fields.get(inputPath.join("."))?.set("");
  }
}
