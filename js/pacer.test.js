// Unit tests of the dashboard's pacer front end with a mock anywidget model.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget from "./pacer.js";
import { mockModel } from "./mock_model.js";

describe("pacer", () => {
  let model;
  let el;
  let cleanup;
  let frames;

  beforeEach(() => {
    frames = [];
    vi.stubGlobal("requestAnimationFrame", (fn) => frames.push(fn));
    model = mockModel({});
    el = document.createElement("div");
    cleanup = widget.render({ model, el });
  });
  afterEach(() => vi.unstubAllGlobals());

  it("renders nothing", () => {
    expect(el.style.display).toBe("none");
    expect(el.children.length).toBe(0);
  });

  it("acknowledges a tick after the next frame, with its sequence number", () => {
    model.message({ type: "tick", seq: 7 });
    expect(model.sent).toEqual([]); // not before the page has drawn
    frames.shift()();
    expect(model.sent).toEqual([{ type: "ack", seq: 7 }]);
  });

  it("ignores other messages", () => {
    model.message({ type: "preset", name: "uniform" });
    model.message(undefined);
    expect(frames.length).toBe(0);
  });

  it("stops listening when the view goes", () => {
    expect(model.listeners("msg:custom")).toBe(1);
    cleanup();
    expect(model.listeners("msg:custom")).toBe(0);
  });
});
