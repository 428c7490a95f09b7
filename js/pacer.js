// The dashboard's pacer: it answers each "tick" the kernel sends after an update with an "ack",
// once the page has handled every message before it and drawn a frame. The kernel then sends its
// next update only when the page has caught up, so a slow page never builds a backlog (and a
// hidden tab, where frames stop, gets updates only rarely). Renders nothing.

/** Reply to `{type: "tick", seq}` with `{type: "ack", seq}` after the next animation frame. */
export function render({ model, el }) {
  el.style.display = "none";
  const onMessage = (msg) => {
    if (!msg || msg.type !== "tick") return;
    requestAnimationFrame(() => model.send({ type: "ack", seq: msg.seq }));
  };
  model.on("msg:custom", onMessage);
  return () => model.off("msg:custom", onMessage);
}

export default { render };
