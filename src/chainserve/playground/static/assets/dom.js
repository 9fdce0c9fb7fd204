// Tiny DOM helpers: the playground builds its page with these instead of a framework.

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "open", "indeterminate"]);

/** Create an element: h("button", {class: "x", onClick: f}, "text", child, ...). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children, skipping null/false and turning other values into text. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Calls ``render(latest)`` at most once per animation frame, however often
 * ``update`` is called before it; ``cancel`` drops a render not yet done. */
export function perFrame(render) {
  let latest;
  let pending = 0;
  return {
    update(value) {
      latest = value;
      if (pending) return;
      pending = requestAnimationFrame(() => {
        pending = 0;
        render(latest);
      });
    },
    cancel() {
      if (pending) cancelAnimationFrame(pending);
      pending = 0;
    },
  };
}

/** Replace all of an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** JSON for people: two-space indented, strings unquoted at the top level. */
export function pretty(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2);
}

/** A short, single-line preview of a value. */
export function preview(value, max = 80) {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? "");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A transient message at the bottom of the page. */
export function toast(message, kind = "info") {
  const el = h("div", { class: `toast toast-${kind}`, role: "status" }, message);
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}
