// Unit tests of the equalizer front end with a mock anywidget model.
import { beforeEach, describe, expect, it } from "vitest";
import widget, { barHeight, formatCount, formatMultiplier, render } from "./layer_controls.js";
import { mockModel } from "./mock_model.js";

const STATE = {
  layers: [
    { name: "dense", params: 4160 },
    { name: "dense_1", params: 650 },
    { name: "head", params: 11 },
  ],
  value: {
    dense: { multiplier: 0.1, frozen: false },
    dense_1: { multiplier: 1, frozen: true },
    head: { multiplier: 1, frozen: false },
  },
  update_size: {},
  min_exponent: -4,
  max_exponent: 1,
  ratio: 2.6,
  k: 1,
  error: "",
};

let model;
let el;
let cleanup;
const band = (name) => el.querySelector(`.lrw-eq-band[data-layer="${name}"]`);
const slider = (name) => band(name).querySelector(".lrw-eq-slider");

beforeEach(() => {
  model = mockModel(STATE);
  el = document.createElement("div");
  cleanup = render({ model, el });
});

describe("rendering", () => {
  it("draws one band per layer with name, parameter count, multiplier and freeze state", () => {
    const names = [...el.querySelectorAll(".lrw-eq-band")].map((b) => b.dataset.layer);
    expect(names).toEqual(["dense", "dense_1", "head"]);
    expect(band("dense").querySelector(".lrw-eq-name").textContent).toBe("dense");
    expect(band("dense").querySelector(".lrw-eq-params").textContent).toBe("4.2k params");
    expect(band("dense").querySelector(".lrw-eq-mult").textContent).toBe("×0.1");
    expect(band("dense_1").querySelector(".lrw-eq-mult").textContent).toBe("×0");
    expect(band("dense_1").classList.contains("lrw-frozen")).toBe(true);
    expect(band("dense_1").querySelector("input[type=checkbox]").checked).toBe(true);
    expect(band("head").querySelector("input[type=checkbox]").checked).toBe(false);
  });

  it("puts each slider on a log10 scale within the exponent range from Python", () => {
    expect(slider("dense").min).toBe("-4");
    expect(slider("dense").max).toBe("1");
    expect(Number(slider("dense").value)).toBeCloseTo(-1, 6);
    expect(Number(slider("head").value)).toBeCloseTo(0, 6);
    model.push("max_exponent", 2);
    expect(slider("head").max).toBe("2");
  });

  it("shows the preset parameters from Python", () => {
    expect(el.querySelector(".lrw-eq-ratio").value).toBe("2.6");
    expect(el.querySelector(".lrw-eq-k").value).toBe("1");
    expect(el.querySelector(".lrw-eq-k").max).toBe("3");
  });

  it("follows value, update_size, layers and error changes from the kernel", () => {
    model.push("value", { ...STATE.value, head: { multiplier: 10, frozen: false } });
    expect(band("head").querySelector(".lrw-eq-mult").textContent).toBe("×10");
    expect(Number(slider("head").value)).toBeCloseTo(1, 6);

    model.push("update_size", { dense: 1e-2, dense_1: 0, head: 1e-3 });
    const bar = (name) => band(name).querySelector(".lrw-eq-bar");
    expect(bar("dense").style.height).toBe("100%");
    expect(bar("head").style.height).toBe("66.7%");
    expect(bar("dense_1").style.height).toBe("0%");
    expect(bar("dense").title).toContain("1.00e-2");

    model.push("layers", [{ name: "head", params: 11 }]);
    expect(el.querySelectorAll(".lrw-eq-band").length).toBe(1);

    model.push("error", "ValueError: nope");
    expect(el.querySelector(".lrw-eq-error").textContent).toBe("ValueError: nope");
  });
});

describe("events", () => {
  it("a slider release writes the multiplier into the one value trait; dragging only moves the label", () => {
    const s = slider("head");
    s.value = "-2";
    s.dispatchEvent(new Event("input"));
    expect(band("head").querySelector(".lrw-eq-mult").textContent).toBe("×0.01");
    expect(model.saved).toEqual([]);
    s.dispatchEvent(new Event("change"));
    expect(model.saved.length).toBe(1);
    expect(Object.keys(model.saved[0])).toEqual(["value"]);
    const value = model.saved[0].value;
    expect(value.head.multiplier).toBeCloseTo(0.01, 10);
    expect(value.head.frozen).toBe(false);
    expect(value.dense).toEqual(STATE.value.dense);
  });

  it("the freeze toggle keeps the multiplier and flips frozen", () => {
    const box = band("dense").querySelector("input[type=checkbox]");
    box.checked = true;
    box.dispatchEvent(new Event("change"));
    expect(model.saved[0].value.dense).toEqual({ multiplier: 0.1, frozen: true });
  });

  it("preset buttons send a message and leave the computation to Python", () => {
    const names = [...el.querySelectorAll(".lrw-eq-preset")].map((b) => b.dataset.preset);
    expect(names).toEqual(["uniform", "discriminative", "head_only", "freeze_first"]);
    el.querySelector('[data-preset="discriminative"]').click();
    expect(model.sent).toEqual([{ type: "preset", name: "discriminative" }]);
    expect(model.saved).toEqual([]);
  });

  it("preset parameters are written when valid and reset when not", () => {
    const ratio = el.querySelector(".lrw-eq-ratio");
    ratio.value = "3";
    ratio.dispatchEvent(new Event("change"));
    expect(model.saved).toEqual([{ ratio: 3 }]);
    ratio.value = "0.5";
    ratio.dispatchEvent(new Event("change"));
    expect(model.saved.length).toBe(1);
    expect(ratio.value).toBe("3");
    const k = el.querySelector(".lrw-eq-k");
    k.value = "1.5";
    k.dispatchEvent(new Event("change"));
    expect(model.saved.length).toBe(1);
    k.value = "2";
    k.dispatchEvent(new Event("change"));
    expect(model.saved[1]).toEqual({ k: 2 });
  });

  it("the cleanup function removes every listener", () => {
    expect(model.listeners("change:value")).toBe(1);
    cleanup();
    for (const event of ["layers", "value", "update_size", "error", "ratio", "k", "min_exponent", "max_exponent"]) {
      expect(model.listeners(`change:${event}`)).toBe(0);
    }
  });
});

describe("helpers", () => {
  it("formats multipliers and counts", () => {
    expect(formatMultiplier(0)).toBe("×0");
    expect(formatMultiplier(2.5)).toBe("×2.5");
    expect(formatMultiplier(1e-4)).toBe("×1e-4");
    expect(formatCount(832)).toBe("832");
    expect(formatCount(3_400_000)).toBe("3.4M");
  });

  it("scales bars over three decades below the largest update", () => {
    expect(barHeight(1, 1)).toBe(1);
    expect(barHeight(1e-3, 1)).toBe(0);
    expect(barHeight(1e-5, 1)).toBe(0);
    expect(barHeight(undefined, 1)).toBe(0);
    expect(barHeight(0.1, 0)).toBe(0);
  });

  it("exports render as the default module too (anywidget's two forms)", () => {
    expect(widget.render).toBe(render);
  });
});
