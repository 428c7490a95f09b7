"""A view's methods that are its model's own: ``dash.pause()`` is ``dash.session.pause()``,
``sweep_widget.run()`` is ``sweep_widget.sweep.run()``, with the same docstring."""

from __future__ import annotations

from typing import Any


def delegated(owner: str, cls: type, name: str) -> Any:
    """The method ``name`` of the object at attribute ``owner`` (an instance of ``cls``), as the view's."""

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(getattr(self, owner), name)(*args, **kwargs)

    call.__name__ = name
    call.__doc__ = getattr(cls, name).__doc__
    call.__wrapped__ = getattr(cls, name)  # type: ignore[attr-defined]  # its signature, for help() and inspect
    return call
