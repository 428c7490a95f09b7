"""How widgets show errors: one helper for observers and message handlers, and the page's refusals.

An observer or a message handler runs in the kernel's thread, called by traitlets or ipywidgets:
an exception there would only reach the kernel's log. Widgets wrap such code in
:func:`shows_errors`, which hands the message to the widget's own display::

    def _on_kind_control(self, change):
        with shows_errors(self._show_error, clear=True):
            self.kind = change["new"]

Values from the page are not trusted: a ``@validate`` validator raises ``TraitError`` (the only
error traitlets rolls back in ``set_state``). Validators that reuse the Keras-style checks wrap
them in :func:`refusing`, which turns their ``TypeError``/``ValueError`` into a ``TraitError``
that is still a ``TypeError``/``ValueError`` (so code that assigns a bad value gets the same error
types as from a constructor). A widget's ``set_state`` wraps ``super().set_state(...)`` in
:func:`refuses_page_state`: the refusal is shown and the page gets the kernel's values back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import ipywidgets as w
import traitlets

from lrwidgets.core.checks import is_real, received, short_repr


class RefusedValue(traitlets.TraitError, ValueError):
    """A value out of range, refused by a trait validator (a ``TraitError`` and a ``ValueError``)."""


class RefusedType(traitlets.TraitError, TypeError):
    """A value of the wrong type, refused by a trait validator (a ``TraitError`` and a ``TypeError``)."""


def describe(error: BaseException) -> str:
    """The one-line form a widget shows: ``"ValueError: Argument `x` must be > 0. Received: x=-1"``."""
    if isinstance(error, RefusedType):
        name = "TypeError"
    elif isinstance(error, RefusedValue):
        name = "ValueError"
    else:
        name = type(error).__name__
    return f"{name}: {error}"


@contextlib.contextmanager
def shows_errors(show: Callable[[str], None], *, clear: bool = False, reraise: bool = False) -> Iterator[None]:
    """Run the block; an ``Exception`` in it becomes ``show(describe(error))`` instead of vanishing.

    Args:
        show: the widget's display of an error message (a trait, a message area); ``""`` clears it.
        clear: call ``show("")`` when the block succeeds (a good edit clears the last refusal).
        reraise: raise the error again after showing it (for ``set_state``, whose caller must
            hear of the refusal too).
    """
    try:
        yield
    except Exception as error:  # shown in the widget; re-raised only when asked
        show(describe(error))
        if reraise:
            raise
    else:
        if clear:
            show("")


@contextlib.contextmanager
def refusing() -> Iterator[None]:
    """In a ``@validate`` validator: a ``TypeError``/``ValueError`` becomes a ``TraitError`` of the same type.

    Any other exception from a check (an ``OverflowError``, a ``RecursionError``) is refused as a
    ``ValueError`` too: a validator only ever refuses with a ``TraitError``.
    """
    try:
        yield
    except traitlets.TraitError:
        raise
    except TypeError as error:
        raise RefusedType(str(error)) from error
    except Exception as error:  # any failed check is a refusal of the value
        raise RefusedValue(str(error)) from error


@contextlib.contextmanager
def refuses_page_state(widget: w.Widget, sync_data: Mapping[str, Any], show: Callable[[str], None]) -> Iterator[None]:
    """Around ``super().set_state(sync_data)``: a refused value is shown and the page is put right.

    traitlets rolls a refused ``set_state`` back without notifying anyone, so the page would go on
    showing the value the kernel refused: the kernel's values of the traits it sent are sent back.
    The ``TraitError`` propagates (ipywidgets logs it).

    traitlets also stores, unvalidated, a value that compares equal to the one in force (``0`` for
    ``False``, ``True`` for ``1``, a dict holding such a value): the validated one is put back.
    """
    keys = [k for k in sync_data if k in widget.keys]
    before = {k: getattr(widget, k) for k in keys}
    try:
        yield
    except traitlets.TraitError as error:
        show(describe(error))
        if keys:
            widget.send_state(keys)
        raise
    for k, old in before.items():
        new = getattr(widget, k)
        if new is not old and _equal(new, old):
            widget.set_trait(k, old)


def refuse_kernel_only(widget: w.Widget, sync_data: Mapping[str, Any], names: tuple[str, ...], owner: str) -> None:
    """In ``set_state`` (within :func:`refuses_page_state`): refuse the page's value of a trait only
    the kernel sets (a bound, a flag, a mark's data), as a ``TraitError`` naming it and ``owner``.

    The value in force sent back as it is (a page re-sending its whole state) is accepted.
    """
    for name in names:
        if name in sync_data and widget.has_trait(name):
            current = getattr(widget, name)
            if not _unchanged(sync_data[name], current):
                held = f" (it is {short_repr(current, 80)})" if isinstance(current, (int, float, str)) else ""
                raise RefusedValue(
                    f"Argument `{name}` of {owner} is set by the kernel, not the page{held}."
                    f" {received(name, sync_data[name])}"
                )


def _unchanged(sent: Any, current: Any) -> bool:
    """``sent`` is the value in force: equal, and of its type (any real number for a number; never a bool for one)."""
    return ((is_real(sent) and is_real(current)) or type(sent) is type(current)) and _equal(sent, current)


def _equal(a: Any, b: Any) -> bool:
    """Equality as traitlets decides that a change is none (an array compares unequal)."""
    try:
        return bool(a == b)
    except Exception:  # arrays and other values without a truth value
        return False
