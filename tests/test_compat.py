"""Keras releases the floors allow: what an older Keras 3 lacks is feature-detected, not required."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import lrwidgets as lrw
from lrwidgets.training import _compat
from tests.helpers import kernel_of, linear_model, regression_data

pytestmark = pytest.mark.keras


@pytest.fixture
def keras_without_multi_optimizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras 3.10-3.14 as lrwidgets sees them: no `keras.optimizers.MultiOptimizer`."""
    monkeypatch.delattr(keras.optimizers, "MultiOptimizer", raising=False)
    monkeypatch.setattr(_compat, "MultiOptimizer", None)


@pytest.mark.usefixtures("keras_without_multi_optimizer")
def test_dashboard_and_layerwise_optimizer_work_without_multi_optimizer() -> None:
    # Before the feature detection both raised AttributeError here.
    assert not _compat.is_multi_optimizer(keras.optimizers.Adam())
    dash = lrw.TrainingDashboard(linear_model(keras.optimizers.Adam(1e-2)))
    x, y = regression_data(64)
    dash.fit(x, y, epochs=1, batch_size=16).wait(timeout=120)
    assert dash.history.num_steps == 4
    opt = lrw.LayerwiseOptimizer(keras.optimizers.SGD(1e-2), multipliers={"dense": 0.0})
    model = linear_model(opt)
    before = kernel_of(model)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(kernel_of(model), before)


def test_multi_optimizer_is_detected_where_keras_has_it() -> None:
    multi = getattr(keras.optimizers, "MultiOptimizer", None)
    assert _compat.MultiOptimizer is multi
    assert not _compat.is_multi_optimizer(keras.optimizers.SGD())
    if multi is not None:
        assert _compat.is_multi_optimizer(multi(keras.optimizers.OptimizerMap(keras.optimizers.SGD())))
