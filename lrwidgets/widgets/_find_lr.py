"""The dashboard's "Find LR": the learning-rate range test on its model and the data of its last fit."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from lrwidgets.widgets._strict_controls import KernelButton


class FindLearningRate:
    """Part of :class:`~lrwidgets.TrainingDashboard`: a "Find LR" button beside the controls, the
    :class:`~lrwidgets.LRFinder` it shows, and :meth:`find_learning_rate` for code.

    Expects of the dashboard: ``session``, ``plots``, ``_children``, ``children``, ``_pause_button``
    and ``_guard``.
    """

    session: Any
    plots: Any
    _children: list[Any]
    _pause_button: widgets.Button
    children: tuple[Any, ...]

    def _guard(self, fn: Any, *args: Any) -> None:
        raise NotImplementedError  # the dashboard's: runs fn, showing its error in the message area

    def _build_find_lr(self) -> None:
        self.finder: Any = None
        self._find_button = KernelButton(
            description="Find LR",
            icon="search",
            disabled=True,
            tooltip="Run the learning-rate range test on the data of the last fit (the model is restored after)",
        )
        self._find_button.on_click(lambda _: self._guard(self.find_learning_rate))
        controls = next(c for c in self._children if isinstance(c, widgets.HBox) and self._pause_button in c.children)
        controls.children = (*controls.children, self._find_button)
        self._unsubscribe_find = self.session.subscribe(lambda _: self._draw_find_button())

    def find_learning_rate(self, **kwargs: Any) -> Any:
        """Run the learning-rate range test on this model and the data of its last fit (between fits).

        Shows an :class:`~lrwidgets.LRFinder` under the controls, whose Apply buttons set this
        dashboard's learning rate; the model is put back bit for bit after the sweep. Takes the
        ``LRFinder`` arguments (``start_learning_rate``, ``num_steps``, ``n_runs``...); returns it.
        """
        from lrwidgets.widgets.finder import LRFinder

        if "target" in kwargs:  # the Apply buttons set this dashboard's rate
            raise TypeError(
                "find_learning_rate() applies to this dashboard: `target` cannot be given."
                f" Received: target={kwargs['target']!r}"
            )
        if self.session.running:
            raise RuntimeError("A fit is running: find a learning rate between two fits.")
        if self.finder is not None and self.finder.test.running:
            raise RuntimeError("A range test is running: wait for it, or stop it, before starting another.")
        finder = LRFinder(self.session.model, target=self, **kwargs)
        finder.test.subscribe(self._draw_find_button)
        finder.run_like(self.session)
        old, self.finder = self.finder, finder
        if old is not None and old in self._children:
            self._children[self._children.index(old)] = finder  # the last test's view gives way
        else:
            self._children.insert(self._children.index(self.plots.loss_fig), finder)
        self.children = tuple(self._children)
        self._draw_find_button()
        return finder

    def _draw_find_button(self) -> None:
        busy = self.session.running or (self.finder is not None and self.finder.test.running)
        self._find_button.disabled = busy or self.session.fit_data is None
