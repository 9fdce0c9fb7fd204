// Entry point: work out where the runnable lives, load its schemas, show the default
// or the chat playground. URLs are relative to the page, so any prefix or root_path works.

import { Api, loadHeaders } from "./api.js";
import { ConfigPanel, decodeConfig, encodeConfig, hasConfig, shareLink } from "./config.js";
import { chatShape, ChatView } from "./chat.js";
import { h, perFrame, pretty, replace, toast } from "./dom.js";
import { buildForm } from "./form.js";
import { isMessage, run, RunState } from "./run.js";
import { openSettings } from "./settings.js";
import { StepsView } from "./tree.js";
import { textOf } from "./widgets.js";

const settings = JSON.parse(document.getElementById("chainserve-settings").textContent);
const page = new URL(location.href);
// <route>/playground/ or <route>/c/<hash>/playground/: the route is one or three levels up.
const base = new URL(settings.hashed ? "../../../" : "../", page);
const configHash = settings.hashed
  ? decodeURIComponent(page.pathname.slice(base.pathname.length).split("/")[1])
  : null;
const api = new Api(base.href);
const root = document.getElementById("app");

function header(actions = []) {
  const route = decodeURIComponent(base.pathname.replace(/\/$/, "")) || "/";
  document.title = `${route} · chainserve playground`;
  const count = loadHeaders().length;
  return h(
    "header",
    { class: "topbar" },
    h(
      "div",
      { class: "brand" },
      h("img", { src: "favicon.svg", alt: "", width: 22, height: 22 }),
      h("span", {}, "chainserve"),
      h("span", { class: "muted" }, "playground"),
    ),
    h("code", { class: "route", title: base.href }, route),
    h("div", { class: "spacer" }),
    actions,
    h(
      "button",
      {
        type: "button",
        class: "button secondary settings-button",
        onClick: () => openSettings(start),
      },
      count ? `Settings (${count} header${count > 1 ? "s" : ""})` : "Settings",
    ),
  );
}

/** A problem the page cannot get past, with the way out when it is credentials. */
function fatal(err) {
  replace(
    root,
    header(),
    h(
      "main",
      { class: "fatal" },
      h(
        "div",
        { class: "error-box" },
        h(
          "strong",
          {},
          err.needsAuth ? "Access denied" : "The playground could not load this runnable",
        ),
        h("p", { class: "error-message" }, err.message),
        err.needsAuth &&
          h(
            "button",
            { type: "button", class: "button primary", onClick: () => openSettings(start) },
            "Open settings",
          ),
      ),
    ),
  );
}

async function schema(path) {
  try {
    return await api.json(path);
  } catch (err) {
    if (err.status === 404) return {}; // schema route disabled: fall back to raw JSON
    throw err;
  }
}

async function start() {
  root.classList.remove("loading");
  const initial = configHash ? (decodeConfig(configHash) ?? {}) : {};
  const hashPath = configHash ? `c/${encodeURIComponent(configHash)}/` : "";
  let schemas;
  try {
    const [input, output, config] = await Promise.all(
      ["input_schema", "output_schema", "config_schema"].map((name) => schema(hashPath + name)),
    );
    schemas = { input, output, config };
  } catch (err) {
    fatal(err);
    return;
  }
  const shape =
    settings.playgroundType === "chat" && page.searchParams.get("view") !== "form"
      ? chatShape(schemas.input, schemas.output)
      : null;
  if (shape)
    new ChatView({
      root,
      api,
      header,
      settings,
      schemas,
      shape,
      initialConfig: initial,
      share: shareBar,
    }).mount();
  else defaultPlayground(schemas, initial);
  if (settings.playgroundType === "chat" && !shape && page.searchParams.get("view") !== "form") {
    const notice =
      "This route asks for the chat playground, but the chat view needs an input that is a list of messages " +
      "(or an object with one message list and at most one string for the newest message) and an output that is a " +
      "message or a string. Showing the form playground instead.";
    root.querySelector("header").after(h("p", { class: "notice" }, notice));
  }
}

/** The share control: a button that reveals the link and copies it. */
function shareBar(getConfig) {
  const field = h("input", {
    class: "share-link",
    readonly: true,
    "aria-label": "Share link",
    hidden: true,
  });
  const button = h("button", { type: "button", class: "button secondary share-button" }, "Share");
  button.addEventListener("click", async () => {
    field.value = shareLink(base, getConfig());
    field.hidden = false;
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      toast("Link copied: it opens this playground with this configuration.");
    } catch {
      toast("Copy the link from the box next to the button.");
    }
  });
  return h("div", { class: "share" }, field, button);
}

function defaultPlayground(schemas, initialConfig) {
  let inputForm = buildForm(schemas.input);
  let inputSchemaText = JSON.stringify(schemas.input);
  const inputHolder = h("div", { class: "input-form" }, inputForm.el);
  const json = h("textarea", {
    class: "json-input whole-input",
    rows: 8,
    spellcheck: "false",
    hidden: true,
    "aria-label": "Input as JSON",
  });
  const modeButton = h(
    "button",
    { type: "button", class: "button small secondary mode-button" },
    "Edit as JSON",
  );
  modeButton.addEventListener("click", () => {
    try {
      if (json.hidden) json.value = JSON.stringify(inputForm.get() ?? null, null, 2);
      else inputForm.set(JSON.parse(json.value));
    } catch (err) {
      toast(err.message, "error");
      return;
    }
    json.hidden = !json.hidden;
    inputHolder.hidden = !json.hidden;
    modeButton.textContent = json.hidden ? "Edit as JSON" : "Edit as form";
  });

  const refreshInput = async (config) => {
    // Configurable alternatives can change the input: ask for the schema under this config.
    try {
      const next = await schema(
        Object.keys(config).length ? `c/${encodeConfig(config)}/input_schema` : "input_schema",
      );
      if (JSON.stringify(next) === inputSchemaText) return;
      let previous;
      try {
        previous = inputForm.get();
      } catch {
        previous = undefined;
      }
      inputSchemaText = JSON.stringify(next);
      inputForm = buildForm(next);
      if (previous !== undefined) inputForm.set(previous);
      replace(inputHolder, inputForm.el);
    } catch (err) {
      toast(err.message, "error");
    }
  };
  const config = hasConfig(schemas.config) ? new ConfigPanel(schemas.config, refreshInput) : null;
  if (config) config.set(initialConfig);
  const getConfig = () => (config ? config.value() : initialConfig);

  const outputView = new OutputView();
  const steps = new StepsView();
  const runButton = h("button", { type: "submit", class: "button primary run-button" }, "Run");
  const stopButton = h(
    "button",
    { type: "button", class: "button secondary stop-button", disabled: true },
    "Stop",
  );
  let controller = null;
  stopButton.addEventListener("click", () => controller?.abort());

  const onRun = async (event) => {
    event.preventDefault();
    let input;
    try {
      input = json.hidden ? inputForm.get() : JSON.parse(json.value);
    } catch (err) {
      outputView.showError(err.message);
      return;
    }
    input = input === undefined ? null : input;
    controller = new AbortController();
    runButton.disabled = true;
    stopButton.disabled = false;
    steps.reset();
    const state = new RunState((s) => {
      outputView.update(s);
      steps.update(s);
    });
    outputView.start();
    try {
      await run(api, input, getConfig(), state, controller.signal);
      outputView.finish(state);
      if (!state.error) inputForm.afterRun(input, state.output);
    } catch (err) {
      if (err.name === "AbortError") outputView.stopped();
      else {
        outputView.showError(err.message, err.needsAuth);
        state.fail(err.message);
      }
    } finally {
      runButton.disabled = false;
      stopButton.disabled = true;
      controller = null;
    }
  };

  const form = h(
    "form",
    { class: "panel input-panel", onSubmit: onRun },
    h("div", { class: "panel-head" }, h("h2", {}, "Input"), modeButton),
    inputHolder,
    json,
    h(
      "div",
      { class: "actions" },
      runButton,
      stopButton,
      h("span", { class: "muted hint" }, "Ctrl+Enter runs"),
    ),
  );
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  replace(
    root,
    header(config ? [shareBar(getConfig)] : []),
    h(
      "main",
      { class: "layout" },
      h(
        "div",
        { class: "column" },
        config &&
          h(
            "section",
            { class: "panel config-panel" },
            h("div", { class: "panel-head" }, h("h2", {}, "Configuration")),
            config.el,
          ),
        form,
      ),
      h(
        "div",
        { class: "column" },
        h(
          "section",
          { class: "panel output-panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Output"), outputView.status),
          outputView.el,
        ),
        h(
          "section",
          { class: "panel steps-panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Intermediate steps")),
          steps.el,
        ),
      ),
    ),
  );
}

/** The run's output as it streams, then its final value; errors in words. */
class OutputView {
  constructor() {
    this.status = h("span", { class: "run-status muted" }, "");
    this.el = h(
      "div",
      { class: "output" },
      h("p", { class: "muted placeholder" }, "Fill in the input and press Run."),
    );
    this.frames = perFrame((state) => this.#render(state));
  }

  start() {
    this.started = performance.now();
    this.#status("Running…", "running");
    replace(this.el, h("p", { class: "muted placeholder" }, "Waiting for the first output…"));
  }

  update(state) {
    this.frames.update(state);
  }

  finish(state) {
    this.#render(state);
    const seconds = ((performance.now() - this.started) / 1000).toFixed(2);
    if (state.error) this.#status("Failed", "error");
    else this.#status(`Done in ${seconds} s`, "done");
  }

  stopped() {
    this.#status("Stopped", "error");
  }

  showError(message, needsAuth = false) {
    this.#status("Failed", "error");
    replace(
      this.el,
      h(
        "div",
        { class: "error-box" },
        h("p", { class: "error-message" }, message),
        needsAuth &&
          h(
            "button",
            { type: "button", class: "button primary", onClick: () => openSettings(start) },
            "Open settings",
          ),
      ),
    );
  }

  #status(text, kind) {
    this.status.textContent = text;
    this.status.className = `run-status status-${kind}`;
  }

  #render(state) {
    if (state.error) {
      this.showError(state.error);
      return;
    }
    if (state.output === undefined) return;
    const value = state.output;
    const text = typeof value === "string" || isMessage(value) ? textOf(value) : null;
    replace(
      this.el,
      text !== null
        ? h("div", { class: "output-text" }, text)
        : h("pre", { class: "output-json" }, pretty(value)),
      isMessage(value) &&
        h(
          "details",
          { class: "raw" },
          h("summary", {}, `${value.type} message`),
          h("pre", {}, pretty(value)),
        ),
    );
  }
}

start();
