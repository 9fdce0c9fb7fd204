// The intermediate steps: one collapsible entry per run, nested as the runs were.

import { h, perFrame, pretty, preview, replace } from "./dom.js";

export class StepsView {
  constructor() {
    this.el = h("div", { class: "steps" }, empty());
    this.opened = new Map(); // run id -> open, as the person left it
    this.frames = perFrame((state) =>
      replace(this.el, state.root ? this.#node(state.root, 0) : empty()),
    );
  }

  /** Re-render at the next frame, however many events arrive before it. */
  update(state) {
    this.frames.update(state);
  }

  reset() {
    this.frames.cancel();
    this.opened.clear();
    replace(this.el, empty());
  }

  #node(node, depth) {
    const key = node.id ?? `${depth}:${node.name}`;
    const details = h("details", {
      class: `step status-${node.status}`,
      open: this.opened.get(key) ?? depth === 0,
      dataset: { name: node.name, kind: node.kind },
    });
    details.addEventListener("toggle", () => this.opened.set(key, details.open));
    const value = node.output ?? node.streamed;
    details.append(
      h(
        "summary",
        {},
        h("span", { class: "dot", title: node.status }),
        h("span", { class: "step-name" }, node.name),
        h("span", { class: "badge" }, node.kind),
        node.duration !== undefined &&
          h("span", { class: "muted step-time" }, formatDuration(node.duration)),
        value !== undefined && h("span", { class: "step-preview" }, preview(value, 60)),
      ),
      h(
        "div",
        { class: "step-body" },
        node.input !== undefined && section("Input", node.input),
        value !== undefined &&
          section(node.output === undefined ? "Output (streaming)" : "Output", value),
        node.children.length > 0 &&
          h(
            "div",
            { class: "step-children" },
            node.children.map((child) => this.#node(child, depth + 1)),
          ),
      ),
    );
    return details;
  }
}

function section(title, value) {
  return h(
    "div",
    { class: "step-section" },
    h("div", { class: "step-label" }, title),
    h("pre", {}, pretty(value)),
  );
}

function empty() {
  return h(
    "p",
    { class: "muted placeholder" },
    "Each step of the run (prompts, models, retrievers, parsers…) appears here as it happens.",
  );
}

function formatDuration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
