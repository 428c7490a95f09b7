// A stand-in for anywidget's model in the unit tests: {get, set, save_changes, on, off, send}.
export function mockModel(state) {
  const handlers = new Map();
  const model = {
    state: structuredClone(state),
    saved: [],
    sent: [],
    get: (name) => model.state[name],
    set: (name, value) => {
      model.state[name] = value;
      model.pending = { ...(model.pending ?? {}), [name]: value };
    },
    save_changes: () => {
      model.saved.push(model.pending);
      model.pending = undefined;
    },
    send: (content) => model.sent.push(content),
    on: (event, fn) => handlers.set(event, [...(handlers.get(event) ?? []), fn]),
    off: (event, fn) => handlers.set(event, (handlers.get(event) ?? []).filter((f) => f !== fn)),
    listeners: (event) => (handlers.get(event) ?? []).length,
    // What the kernel does: change a trait, then notify.
    push: (name, value) => {
      model.state[name] = value;
      for (const fn of handlers.get(`change:${name}`) ?? []) fn();
    },
    // A custom message from the kernel.
    message: (content) => {
      for (const fn of handlers.get("msg:custom") ?? []) fn(content);
    },
  };
  return model;
}
