// The configuration panel (from config_schema) and share links, which carry the
// configuration in the URL as LangServe's do: <route>/c/<lz-string of the JSON>/playground/.

import { h } from "./dom.js";
import { buildForm } from "./form.js";
import { compressToEncodedURIComponent, decompressFromEncodedURIComponent } from "./lzstring.js";

/** Whether a config schema has anything a person can set. */
export function hasConfig(schema) {
  return Object.keys(schema?.properties ?? {}).length > 0;
}

export class ConfigPanel {
  /** onChange(config) runs (debounced) after each edit. */
  constructor(schema, onChange) {
    this.form = buildForm(schema, { label: "Configuration", flatten: "configurable" });
    this.el = h("div", { class: "config-form" }, this.form.el);
    let timer;
    const changed = () => {
      clearTimeout(timer);
      timer = setTimeout(() => onChange(this.value()), 350);
    };
    this.el.addEventListener("input", changed);
    this.el.addEventListener("change", changed);
  }

  /** The config to send: {} when nothing is set. */
  value() {
    try {
      return this.form.get() ?? {};
    } catch {
      return {};
    }
  }

  set(config) {
    this.form.set(config);
  }
}

/** The config hash of a /c/<hash>/ URL. */
export function encodeConfig(config) {
  return compressToEncodedURIComponent(JSON.stringify(config ?? {}));
}

/** The config in a /c/<hash>/ URL, or null if it cannot be read. */
export function decodeConfig(hash) {
  try {
    const value = JSON.parse(decompressFromEncodedURIComponent(hash) ?? "null");
    return value && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

/** The playground URL that opens with this config. */
export function shareLink(base, config) {
  return new URL(`c/${encodeConfig(config)}/playground/`, base).href;
}
