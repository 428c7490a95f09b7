// LayerLRControls front end: an "equalizer" of per-layer learning-rate multipliers.
//
// The Python side owns every default and every rule; this module only draws the synced traits
// and writes user edits back into the ONE value trait (`value`: {layer: {multiplier, frozen}})
// or the preset parameters (`ratio`, `k`). Presets are computed in Python: a button sends
// {type: "preset", name}.

const STYLE = `
.lrw-eq { font: 12px/1.3 var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, #222); }
.lrw-eq-presets { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-bottom: 8px; }
.lrw-eq-presets input { width: 4.5em; }
.lrw-eq-bands { display: flex; gap: 10px; align-items: flex-end; overflow-x: auto; padding-bottom: 4px; }
.lrw-eq-band { display: flex; flex-direction: column; align-items: center; width: 72px; }
.lrw-eq-track { position: relative; height: 160px; width: 28px; display: flex; justify-content: center; }
.lrw-eq-bar { position: absolute; bottom: 0; width: 100%; background: rgba(255, 140, 0, 0.35); border-radius: 3px; }
.lrw-eq-slider { position: relative; writing-mode: vertical-lr; direction: rtl; height: 160px; width: 20px; margin: 0; }
.lrw-eq-band.lrw-frozen .lrw-eq-slider { opacity: 0.35; }
.lrw-eq-mult { font-variant-numeric: tabular-nums; margin-top: 4px; }
.lrw-eq-name { font-weight: 600; max-width: 72px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.lrw-eq-params { color: var(--jp-ui-font-color2, #666); }
.lrw-eq-error { color: #c00; white-space: pre-wrap; margin-top: 6px; }
.lrw-eq-error:empty { display: none; }
`;

const PRESETS = [
  ["uniform", "Uniform"],
  ["discriminative", "Discriminative ÷"],
  ["head_only", "Head only"],
  ["freeze_first", "Freeze first"],
];

/** "×0.1", "×2.5", "×1e-4": short text for a multiplier. */
export function formatMultiplier(m) {
  if (m === 0) return "×0";
  if (m >= 0.01 && m < 1000) return `×${Number(m.toPrecision(2))}`;
  return `×${m.toExponential(0).replace("e+", "e")}`;
}

/** "832", "1.2k", "3.4M" parameters. */
export function formatCount(n) {
  if (n < 1000) return `${n}`;
  if (n < 1e6) return `${Number((n / 1e3).toPrecision(2))}k`;
  return `${Number((n / 1e6).toPrecision(2))}M`;
}

/** Bar height in [0, 1]: log scale over the 3 decades below the largest update size. */
export function barHeight(size, largest) {
  if (!(size > 0) || !(largest > 0)) return 0;
  return Math.min(1, Math.max(0, (Math.log10(size / largest) + 3) / 3));
}

function el_(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function render({ model, el }) {
  const root = el_("div", "lrw-eq");
  const style = el_("style");
  style.textContent = STYLE;
  const presets = el_("div", "lrw-eq-presets");
  const bands = el_("div", "lrw-eq-bands");
  const error = el_("div", "lrw-eq-error");
  root.append(style, presets, bands, error);
  el.replaceChildren(root);

  function commit(name, patch) {
    const value = model.get("value");
    model.set("value", { ...value, [name]: { ...value[name], ...patch } });
    model.save_changes();
  }

  // Preset buttons and their parameters.
  const ratio = el_("input", "lrw-eq-ratio");
  Object.assign(ratio, { type: "number", min: "1", step: "0.1", title: "ratio between neighbouring layers" });
  const k = el_("input", "lrw-eq-k");
  Object.assign(k, { type: "number", min: "0", step: "1", title: "number of first layers to freeze" });
  for (const [name, label] of PRESETS) {
    const button = el_("button", "lrw-eq-preset", label);
    button.type = "button";
    button.dataset.preset = name;
    button.addEventListener("click", () => model.send({ type: "preset", name }));
    presets.append(button);
    if (name === "discriminative") presets.append(ratio);
    if (name === "freeze_first") presets.append(k);
  }
  // A preset parameter is written to its trait when valid, else the input shows the trait again.
  function bindNumber(input, trait, valid) {
    input.addEventListener("change", () => {
      const n = Number(input.value);
      if (valid(n)) {
        model.set(trait, n);
        model.save_changes();
      } else input.value = `${model.get(trait)}`;
    });
  }
  bindNumber(ratio, "ratio", (r) => Number.isFinite(r) && r >= 1);
  bindNumber(k, "k", (n) => Number.isInteger(n) && n >= 0);

  // One band per layer, rebuilt when the layers or the slider range change.
  let parts = new Map();
  function build() {
    parts = new Map();
    bands.replaceChildren();
    const lo = model.get("min_exponent");
    const hi = model.get("max_exponent");
    for (const { name, params } of model.get("layers")) {
      const band = el_("div", "lrw-eq-band");
      band.dataset.layer = name;
      const track = el_("div", "lrw-eq-track");
      const bar = el_("div", "lrw-eq-bar");
      const slider = el_("input", "lrw-eq-slider");
      Object.assign(slider, { type: "range", min: `${lo}`, max: `${hi}`, step: "0.01" });
      slider.setAttribute("aria-label", `${name} learning-rate multiplier (log10)`);
      track.append(bar, slider);
      const mult = el_("div", "lrw-eq-mult");
      const freezeLabel = el_("label", "lrw-eq-freeze");
      const freeze = el_("input");
      freeze.type = "checkbox";
      freezeLabel.append(freeze, " freeze");
      band.append(track, mult, freezeLabel, el_("div", "lrw-eq-name", name), el_("div", "lrw-eq-params", `${formatCount(params)} params`));
      band.querySelector(".lrw-eq-name").title = name;
      // While dragging only the label follows; the value is committed once, on release.
      slider.addEventListener("input", () => {
        mult.textContent = formatMultiplier(10 ** Number(slider.value));
      });
      slider.addEventListener("change", () => commit(name, { multiplier: 10 ** Number(slider.value) }));
      freeze.addEventListener("change", () => commit(name, { frozen: freeze.checked }));
      bands.append(band);
      parts.set(name, { band, bar, slider, mult, freeze });
    }
    showValue();
    showSizes();
  }

  function showValue() {
    const value = model.get("value");
    for (const [name, p] of parts) {
      const setting = value[name];
      if (!setting) continue;
      p.slider.value = `${Math.log10(setting.multiplier)}`;
      p.freeze.checked = setting.frozen;
      p.band.classList.toggle("lrw-frozen", setting.frozen);
      p.mult.textContent = formatMultiplier(setting.frozen ? 0 : setting.multiplier);
    }
  }

  function showSizes() {
    const sizes = model.get("update_size");
    const largest = Math.max(0, ...Object.values(sizes));
    for (const [name, p] of parts) {
      const size = sizes[name];
      p.bar.style.height = `${(100 * barHeight(size, largest)).toFixed(1)}%`;
      p.bar.title = size === undefined ? "" : `update size ||dW||/||W|| = ${size.toExponential(2)}`;
    }
  }

  function showParams() {
    ratio.value = `${model.get("ratio")}`;
    k.value = `${model.get("k")}`;
    k.max = `${model.get("layers").length}`;
  }

  function showError() {
    error.textContent = model.get("error");
  }

  const handlers = [
    ["change:layers", () => { build(); showParams(); }],
    ["change:min_exponent", build],
    ["change:max_exponent", build],
    ["change:value", showValue],
    ["change:update_size", showSizes],
    ["change:ratio", showParams],
    ["change:k", showParams],
    ["change:error", showError],
  ];
  for (const [event, handler] of handlers) model.on(event, handler);
  build();
  showParams();
  showError();
  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
  };
}

export default { render };
