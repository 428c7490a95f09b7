"""A schedule driven from the host, one write per step, trains exactly like Keras's in-graph schedule."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import kernel_of, linear_model, regression_data

pytestmark = pytest.mark.keras


def staircase(step: int) -> float:
    return 0.05 * 0.5 ** (step // 3)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_host_schedule_matches_keras_schedule(optimizer: str) -> None:
    import keras

    import lrwidgets as lrw

    x, y = regression_data(320)
    keras_schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5, staircase=True)
    reference = linear_model(getattr(keras.optimizers, optimizer)(keras_schedule))
    reference.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)

    model = linear_model(getattr(keras.optimizers, optimizer)(0.05))
    dash = lrw.TrainingDashboard(model)
    dash.fit(x, y, epochs=2, batch_size=32, shuffle=False, schedule=staircase).wait(timeout=60)

    np.testing.assert_allclose(dash.history.learning_rate, [staircase(s) for s in range(20)], rtol=1e-6)
    np.testing.assert_allclose(kernel_of(model), kernel_of(reference), rtol=1e-5, atol=1e-7)
    assert len(dash._plan_mark.x) == 20  # the planned curve is drawn with the actual one


def test_live_change_scales_the_rest_of_the_schedule() -> None:
    import lrwidgets as lrw

    x, y = regression_data(64 * 32)
    dash = lrw.TrainingDashboard(linear_model())
    seen: list[int] = []

    def schedule(step: int) -> float:
        seen.append(step)
        return 1e-3 * 0.99**step

    from tests.test_dashboard import wait_for

    run = dash.fit(x, y, epochs=100, batch_size=32, schedule=schedule)
    wait_for(lambda: dash.history.num_steps >= 10)
    dash.learning_rate = 1e-2
    wait_for(lambda: any(e.kind == "learning_rate" for e in dash.history.events))
    k = next(e for e in dash.history.events if e.kind == "learning_rate").step
    wait_for(lambda: dash.history.num_steps >= k + 10)
    run.stop()
    run.wait(timeout=60)
    lr = dash.history.learning_rate.astype(np.float64)
    np.testing.assert_allclose(lr[:k], [1e-3 * 0.99**s for s in range(k)], rtol=1e-5)
    np.testing.assert_allclose(lr[k:], [1e-2 * 0.99 ** (s - k) for s in range(k, len(lr))], rtol=1e-5)


def test_live_change_trains_exactly_like_a_keras_piecewise_schedule() -> None:
    """No callback here touches the model: the change must reach the jitted step by itself."""
    import keras

    import lrwidgets as lrw
    from tests.test_dashboard import wait_for

    x, y = regression_data(64 * 32)
    model = linear_model(keras.optimizers.SGD(1e-4))
    dash = lrw.TrainingDashboard(model)
    run = dash.fit(x, y, epochs=3, batch_size=32, shuffle=False)
    wait_for(lambda: dash.history.num_steps >= 30)
    dash.learning_rate = 2e-3
    history = run.wait(timeout=120)
    k = next(e for e in dash.history.events if e.kind == "learning_rate").step
    assert 30 <= k < 64 * 3

    piecewise = keras.optimizers.schedules.PiecewiseConstantDecay([k - 1], [1e-4, 2e-3])
    reference = linear_model(keras.optimizers.SGD(piecewise))
    reference.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(kernel_of(model), kernel_of(reference), rtol=1e-5, atol=1e-7)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(2e-3)
    assert history.history["learning_rate"][-1] == pytest.approx(2e-3)
