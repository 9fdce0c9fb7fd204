// The chat playground: a conversation with a runnable that takes a message list (or a
// message list plus the newest message) and answers with a message or a string.

import { ApiError } from "./api.js";
import { ConfigPanel, hasConfig } from "./config.js";
import { h, replace, toast } from "./dom.js";
import { addChunk } from "./run.js";
import {
  canBeAiMessage,
  isMessage as isMessageSchema,
  isMessageList,
  resolve,
  unwrapNullable,
  variants,
} from "./schema.js";
import { textOf } from "./widgets.js";

/** How to send a conversation to this runnable ({listKey, messageKey}), or null. */
export function chatShape(input, output) {
  const rootSchema = unwrapNullable(input, input).schema;
  let shape = null;
  if (isMessageList(rootSchema, input)) shape = { listKey: null, messageKey: null };
  else if (rootSchema.type === "object" && rootSchema.properties) {
    const fields = Object.entries(rootSchema.properties).map(([key, s]) => [
      key,
      unwrapNullable(s, input).schema,
    ]);
    const lists = fields.filter(([, s]) => s.type === "array");
    const strings = fields.filter(([, s]) => s.type === "string");
    if (fields.length === 1 && lists.length === 1)
      shape = { listKey: lists[0][0], messageKey: null };
    if (fields.length === 2 && lists.length === 1 && strings.length === 1) {
      shape = { listKey: lists[0][0], messageKey: strings[0][0] };
    }
  }
  return shape && replyOk(output) ? shape : null;
}

function replyOk(output) {
  const schema = resolve(output, output);
  if (Object.keys(schema).every((key) => ["title", "description", "$defs"].includes(key)))
    return true; // any
  const ok = (member) => {
    const s = resolve(member, output);
    return s.type === "string" || (isMessageSchema(s, output) && canBeAiMessage(s, output));
  };
  const members = variants(schema);
  return members ? members.some(ok) : ok(schema);
}

export class ChatView {
  constructor({ root, api, header, settings, schemas, shape, initialConfig, share }) {
    Object.assign(this, { root, api, header, settings, shape, share });
    this.messages = []; // {type: "human" | "ai", content, runId?, score?, streaming?, error?}
    this.config = hasConfig(schemas.config) ? new ConfigPanel(schemas.config, () => {}) : null;
    this.config?.set(initialConfig);
    this.initialConfig = initialConfig;
    // The server says whether the buttons can work (LangSmith tracing on).
    this.feedback = Boolean(settings.feedback);
    this.traceLinks = Boolean(settings.publicTraceLink);
    this.controller = null;
    this.editing = -1;
  }

  mount() {
    this.list = h("div", { class: "conversation", "aria-live": "polite" });
    this.box = h("textarea", {
      class: "composer-input",
      rows: 1,
      placeholder: "Type a message. Enter sends, Shift+Enter adds a line.",
    });
    this.send = h("button", { type: "submit", class: "button primary send-button" }, "Send");
    this.stop = h(
      "button",
      {
        type: "button",
        class: "button secondary stop-button",
        hidden: true,
        onClick: () => this.controller?.abort(),
      },
      "Stop",
    );
    this.box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.composer.requestSubmit();
      }
    });
    this.composer = h(
      "form",
      { class: "composer", onSubmit: (event) => this.#submit(event) },
      this.box,
      this.stop,
      this.send,
    );
    const getConfig = () => (this.config ? this.config.value() : this.initialConfig);
    const actions = [
      h(
        "a",
        {
          class: "button secondary",
          href: "?view=form",
          title: "The form-based playground for this route",
        },
        "Form view",
      ),
      this.config && this.share(getConfig),
      h(
        "button",
        { type: "button", class: "button secondary", onClick: () => this.#clear() },
        "New chat",
      ),
    ];
    replace(
      this.root,
      this.header(actions),
      h(
        "main",
        { class: "chat-layout" },
        this.config &&
          h(
            "details",
            { class: "panel config-panel chat-config" },
            h("summary", {}, "Configuration"),
            this.config.el,
          ),
        h("section", { class: "chat-main" }, this.list, this.composer),
      ),
    );
    this.#render();
    this.box.focus();
  }

  #submit(event) {
    event.preventDefault();
    const text = this.box.value.trim();
    if (!text || this.controller) return;
    this.box.value = "";
    this.messages.push({ type: "human", content: text });
    this.#reply();
  }

  #clear() {
    this.controller?.abort();
    this.messages = [];
    this.#render();
  }

  /** The request input for the conversation so far. */
  #input(history) {
    const messages = history.map(({ type, content }) => ({ type, content }));
    const { listKey, messageKey } = this.shape;
    if (listKey === null) return messages;
    if (messageKey && messages.at(-1)?.type === "human") {
      return { [listKey]: messages.slice(0, -1), [messageKey]: messages.at(-1).content };
    }
    return { [listKey]: messages };
  }

  /** Stream the AI's answer to the conversation as it stands. */
  async #reply() {
    const input = this.#input(this.messages);
    const answer = { type: "ai", content: "", streaming: true };
    this.messages.push(answer);
    this.controller = new AbortController();
    this.#busy(true);
    this.#render();
    const config = this.config ? this.config.value() : this.initialConfig;
    try {
      await this.#stream({ input, config }, answer);
    } catch (err) {
      if (err.name !== "AbortError") answer.error = err.message;
      if (err.needsAuth) answer.needsAuth = true;
    } finally {
      answer.streaming = false;
      this.controller = null;
      this.#busy(false);
      this.#render();
      this.box.focus();
    }
  }

  async #stream(body, answer) {
    let value;
    try {
      for await (const { event, data } of this.api.events("stream", body, this.controller.signal)) {
        if (event === "end") break;
        if (event === "metadata") answer.runId = JSON.parse(data).run_id;
        if (event === "error")
          throw new ApiError(500, `The run failed while streaming: ${JSON.parse(data).message}`);
        if (event !== "data") continue;
        value = addChunk(value, JSON.parse(data));
        answer.content = textOf(value);
        this.#render();
      }
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      const result = await this.api.json("invoke", {
        method: "POST",
        body,
        signal: this.controller.signal,
      });
      answer.runId = result.metadata?.run_id;
      answer.content = textOf(result.output);
    }
  }

  #busy(busy) {
    this.send.hidden = busy;
    this.stop.hidden = !busy;
  }

  #render() {
    if (!this.list) return;
    if (!this.messages.length) {
      replace(
        this.list,
        h(
          "div",
          { class: "empty-chat" },
          h("h2", {}, "Start a conversation"),
          h(
            "p",
            { class: "muted" },
            "Messages are sent with the whole conversation so far; replies stream in as they are produced.",
          ),
        ),
      );
      return;
    }
    replace(
      this.list,
      this.messages.map((message, index) => this.#bubble(message, index)),
    );
    this.list.scrollTop = this.list.scrollHeight;
  }

  #bubble(message, index) {
    const last = index === this.messages.length - 1;
    const body =
      this.editing === index
        ? this.#editor(message, index)
        : h("div", { class: "bubble-text" }, message.content || (message.streaming ? "…" : ""));
    const idle = !this.controller;
    return h(
      "div",
      {
        class: `bubble bubble-${message.type}${message.streaming ? " streaming" : ""}`,
        dataset: { index },
      },
      h("div", { class: "bubble-role" }, message.type === "human" ? "You" : "AI"),
      body,
      message.error &&
        h(
          "div",
          { class: "error-box small" },
          message.error,
          message.needsAuth && " Use the Settings button at the top right.",
        ),
      idle &&
        this.editing !== index &&
        h(
          "div",
          { class: "bubble-actions" },
          h(
            "button",
            { type: "button", class: "link-button edit-button", onClick: () => this.#edit(index) },
            "Edit",
          ),
          message.type === "ai" &&
            last &&
            h(
              "button",
              {
                type: "button",
                class: "link-button regenerate-button",
                onClick: () => this.#regenerate(),
              },
              "Regenerate",
            ),
          message.type === "ai" && message.runId && this.feedback && this.#thumbs(message),
          message.type === "ai" &&
            message.runId &&
            this.traceLinks &&
            h(
              "button",
              { type: "button", class: "link-button", onClick: () => this.#trace(message) },
              "Public trace",
            ),
        ),
    );
  }

  #editor(message, index) {
    const box = h("textarea", { class: "edit-input", rows: 2, value: message.content });
    const save = (resend) => {
      message.content = box.value;
      this.editing = -1;
      if (resend) {
        this.messages.splice(index + 1);
        this.#reply();
      } else this.#render();
    };
    queueMicrotask(() => box.focus());
    return h(
      "div",
      { class: "bubble-edit" },
      box,
      h(
        "div",
        { class: "bubble-actions" },
        message.type === "human" &&
          h(
            "button",
            { type: "button", class: "button small primary", onClick: () => save(true) },
            "Save & resend",
          ),
        h(
          "button",
          {
            type: "button",
            class: `button small ${message.type === "human" ? "secondary" : "primary"}`,
            onClick: () => save(false),
          },
          "Save",
        ),
        h(
          "button",
          {
            type: "button",
            class: "button small secondary",
            onClick: () => ((this.editing = -1), this.#render()),
          },
          "Cancel",
        ),
      ),
    );
  }

  #edit(index) {
    this.editing = index;
    this.#render();
  }

  #regenerate() {
    this.messages.pop();
    this.#reply();
  }

  #thumbs(message) {
    const vote = async (score) => {
      try {
        await this.api.request("feedback", {
          method: "POST",
          body: { run_id: message.runId, key: "correctness", score },
        });
        message.score = score;
        this.#render();
      } catch (err) {
        toast(err.message, "error");
      }
    };
    return [
      h(
        "button",
        {
          type: "button",
          class: `link-button thumb${message.score === 1 ? " chosen" : ""}`,
          title: "Good answer",
          "aria-label": "Thumbs up",
          onClick: () => vote(1),
        },
        "👍",
      ),
      h(
        "button",
        {
          type: "button",
          class: `link-button thumb${message.score === 0 ? " chosen" : ""}`,
          title: "Bad answer",
          "aria-label": "Thumbs down",
          onClick: () => vote(0),
        },
        "👎",
      ),
    ];
  }

  async #trace(message) {
    try {
      const { public_url: url } = await (
        await this.api.request("public_trace_link", {
          method: "PUT",
          body: { run_id: message.runId },
        })
      ).json();
      window.open(url, "_blank", "noopener");
    } catch (err) {
      toast(err.message, "error");
    }
  }
}
