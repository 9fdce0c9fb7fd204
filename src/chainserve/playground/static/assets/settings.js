// The Settings dialog: headers sent with every request (e.g. an API key), kept in this
// browser's localStorage only.

import { isHeaderName, loadHeaders, saveHeaders } from "./api.js";
import { h } from "./dom.js";

/** Open the dialog; onSave runs after the headers are saved. */
export function openSettings(onSave) {
  const rows = h("div", { class: "header-rows" });
  const addRow = (name = "", value = "") => {
    const row = h(
      "div",
      { class: "header-row" },
      h("input", {
        class: "header-name",
        placeholder: "Header name, e.g. x-api-key",
        "aria-label": "Header name",
      }),
      h("input", {
        class: "header-value",
        type: "password",
        placeholder: "Value",
        autocomplete: "off",
        "aria-label": "Header value",
      }),
      h(
        "button",
        {
          type: "button",
          class: "icon-button",
          title: "Remove header",
          onClick: () => row.remove(),
        },
        "×",
      ),
    );
    row.querySelector(".header-name").value = name;
    row.querySelector(".header-value").value = value;
    rows.append(row);
  };
  const saved = loadHeaders();
  saved.forEach(({ name, value }) => addRow(name, value));
  if (!saved.length) addRow();
  const error = h("p", { class: "error-text", hidden: true });
  const dialog = h(
    "dialog",
    { class: "settings-dialog", "aria-label": "Settings" },
    h(
      "form",
      { method: "dialog" },
      h("h2", {}, "Request headers"),
      h(
        "p",
        { class: "help" },
        "Sent with every request this page makes to the server: use them for an API key or a bearer token. ",
        "They are stored in this browser only (localStorage) and never put in share links.",
      ),
      rows,
      h(
        "button",
        { type: "button", class: "button small secondary", onClick: () => addRow() },
        "+ Add header",
      ),
      error,
      h(
        "div",
        { class: "dialog-actions" },
        h(
          "button",
          { type: "button", class: "button secondary", onClick: () => dialog.close() },
          "Cancel",
        ),
        h("button", { type: "submit", class: "button primary save-settings" }, "Save"),
      ),
    ),
  );
  dialog.querySelector("form").addEventListener("submit", (event) => {
    const entries = [...rows.children].map((row) => ({
      name: row.querySelector(".header-name").value.trim(),
      value: row.querySelector(".header-value").value,
    }));
    const bad = entries.find((entry) => entry.name && !isHeaderName(entry.name));
    if (bad) {
      event.preventDefault();
      error.hidden = false;
      error.textContent = `"${bad.name}" is not a valid header name.`;
      return;
    }
    saveHeaders(entries);
    queueMicrotask(onSave);
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}
