// Editors for values a plain input cannot hold: files (base64file widget), message
// lists and (human, ai) pair lists (chat widget and message-list fields).

import { h, replace } from "./dom.js";

const ROLES = [
  ["human", "Human"],
  ["ai", "AI"],
  ["system", "System"],
];
const ROLE_ALIASES = {
  user: "human",
  assistant: "ai",
  HumanMessage: "human",
  AIMessage: "ai",
  SystemMessage: "system",
};

/** The text of a message-like value (string, message object or content blocks). */
export function textOf(value) {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && "content" in value) return contentText(value.content);
  return value === undefined ? "" : JSON.stringify(value);
}

function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((block) => (typeof block === "string" ? block : (block?.text ?? "")))
      .join("");
  }
  return JSON.stringify(content);
}

/** A message in the wire shape the server decodes: {type, content}. */
export function toMessage(value) {
  if (Array.isArray(value)) return { type: roleOf(value[0]), content: textOf(value[1]) };
  if (value && typeof value === "object") {
    const role = roleOf(value.type ?? value.role);
    const content = typeof value.content === "string" ? value.content : textOf(value);
    return { type: role, content };
  }
  return { type: "human", content: String(value ?? "") };
}

function roleOf(type) {
  const name = String(type ?? "human").replace(/Chunk$/, "");
  return ROLE_ALIASES[name] ?? name;
}

/** File picker for a base64file widget: the value is the file's bytes in base64. */
export function fileWidget({ required, id }) {
  let value;
  const status = h("span", { class: "file-status" }, "No file chosen");
  const input = h("input", { type: "file", id, class: "file-input" });
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    status.textContent = `Reading ${file.name}…`;
    value = await readBase64(file);
    status.textContent = `${file.name} · ${formatSize(file.size)} · sent as base64`;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
  const el = h(
    "div",
    { class: "file-widget" },
    h("label", { class: "button secondary file-button" }, "Choose file…", input),
    status,
  );
  return {
    el,
    get: () => value ?? (required ? "" : undefined),
    set: (next) => {
      value = typeof next === "string" && next ? next : undefined;
      status.textContent = value ? `Base64 value (${value.length} characters)` : "No file chosen";
    },
  };
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] ?? "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Editor for a list of chat messages: one row per message, with its role. */
export function messagesEditor({ chat = false } = {}) {
  const list = h("div", { class: chat ? "messages chat-transcript" : "messages" });
  const row = (message) => {
    const role = h(
      "select",
      { class: "role", "aria-label": "Role" },
      ROLES.map(([value, label]) => h("option", { value }, label)),
    );
    role.value = ROLES.some(([value]) => value === message.type) ? message.type : "human";
    const content = h("textarea", {
      class: "content",
      rows: 1,
      placeholder: "Message",
      value: message.content,
    });
    const remove = h(
      "button",
      { type: "button", class: "icon-button", title: "Remove message", onClick: () => el.remove() },
      "×",
    );
    const el = h("div", { class: `message-row role-${role.value}` }, role, content, remove);
    role.addEventListener("change", () => (el.className = `message-row role-${role.value}`));
    return el;
  };
  const add = (type) => {
    list.append(row({ type, content: "" }));
    list.lastElementChild.querySelector("textarea").focus();
  };
  const buttons = h(
    "div",
    { class: "row-buttons" },
    ROLES.map(([type, label]) =>
      h(
        "button",
        { type: "button", class: "button small secondary", onClick: () => add(type) },
        `+ ${label}`,
      ),
    ),
  );
  return {
    el: h("div", { class: "messages-editor" }, list, buttons),
    get: () =>
      [...list.children].map((el) => ({
        type: el.querySelector(".role").value,
        content: el.querySelector(".content").value,
      })),
    set: (messages) =>
      replace(
        list,
        (Array.isArray(messages) ? messages : []).map((m) => row(toMessage(m))),
      ),
  };
}

/** Editor for a list of (human, ai) string pairs, e.g. list[tuple[str, str]]. */
export function pairsEditor({ chat = false } = {}) {
  const list = h("div", { class: chat ? "pairs chat-transcript" : "pairs" });
  const row = ([human, ai]) => {
    const el = h(
      "div",
      { class: "pair-row" },
      h("textarea", { class: "human", rows: 1, placeholder: "Human", value: human ?? "" }),
      h("textarea", { class: "ai", rows: 1, placeholder: "AI", value: ai ?? "" }),
      h(
        "button",
        { type: "button", class: "icon-button", title: "Remove turn", onClick: () => el.remove() },
        "×",
      ),
    );
    return el;
  };
  return {
    el: h(
      "div",
      { class: "messages-editor" },
      list,
      h(
        "div",
        { class: "row-buttons" },
        h(
          "button",
          {
            type: "button",
            class: "button small secondary",
            onClick: () => list.append(row(["", ""])),
          },
          "+ Turn",
        ),
      ),
    ),
    get: () =>
      [...list.children].map((el) => [
        el.querySelector(".human").value,
        el.querySelector(".ai").value,
      ]),
    set: (pairs) =>
      replace(
        list,
        (Array.isArray(pairs) ? pairs : []).map((pair) =>
          row(Array.isArray(pair) ? pair : [textOf(pair), ""]),
        ),
      ),
  };
}
