"""The numpy core: decimation, smoothing, batch-loss recovery, history, divergence."""

from __future__ import annotations

import io
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lrwidgets.core import BatchLossRecovery, DivergenceMonitor, EmaSmoother, MinMaxDecimator, TrainingHistory, ema
from lrwidgets.core.diagnostics import MonitorState


def decimate(values: np.ndarray, max_points: int) -> np.ndarray:
    d = MinMaxDecimator(max_points)
    for v in values.tolist():
        d.append(v)
    return d.indices()


@pytest.mark.parametrize("n", [1, 7, 100, 1_000, 54_321])
def test_decimation_is_bounded_sorted_and_ends_at_last(n: int) -> None:
    rng = np.random.default_rng(n)
    idx = decimate(rng.normal(size=n), 600)
    assert len(idx) <= 600
    assert np.all(np.diff(idx) > 0)
    assert idx[-1] == n - 1


def test_decimation_keeps_every_point_while_short() -> None:
    assert decimate(np.arange(200.0), 600).tolist() == list(range(200))


def test_decimation_keeps_spikes_and_dips() -> None:
    values = np.zeros(50_000)
    values[12_345] = 100.0
    values[40_001] = -7.0
    idx = decimate(values, 100)
    assert 12_345 in idx
    assert 40_001 in idx


def test_decimation_keeps_global_extremes_of_noise() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=30_000)
    idx = decimate(values, 200)
    assert int(np.argmax(values)) in idx
    assert int(np.argmin(values)) in idx


def test_decimation_ignores_nan_for_extremes_but_keeps_position() -> None:
    values = np.ones(1000)
    values[500] = np.nan
    values[700] = 5.0
    idx = decimate(values, 20)
    assert 700 in idx


@pytest.mark.parametrize(
    ("bad", "error"), [(0, ValueError), (7, ValueError), (2.5, ValueError), (10**9, ValueError), (True, TypeError),
                       ("100", TypeError)],
)  # fmt: skip
def test_decimator_rejects_bad_max_points(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="Argument `max_points`"):
        MinMaxDecimator(bad)  # type: ignore[arg-type]


def test_ema_matches_closed_form_and_skips_nan() -> None:
    x = np.array([1.0, 2.0, np.nan, 4.0])
    b = 0.8
    out = ema(x, b)
    acc, w, expect = 0.0, 0.0, []
    for v in x:
        if not math.isnan(v):
            acc, w = b * acc + (1 - b) * v, b * w + (1 - b)
        expect.append(acc / w)
    np.testing.assert_allclose(out, expect, rtol=1e-6)
    with pytest.raises(ValueError, match="Argument `smoothing`"):
        EmaSmoother(1.0)


def test_batch_loss_recovery_weighs_by_a_fits_sizes_only_when_they_are_exact() -> None:
    r = BatchLossRecovery()
    r.weigh(np.int64(32), 100, exact=True)
    assert (r.batch_size, r.samples_per_epoch) == (32, 100) and type(r.batch_size) is int
    r.weigh(32, 100, exact=False)  # a custom train step's means, batches not known before the fit
    assert (r.batch_size, r.samples_per_epoch) == (None, None)
    r.weigh(0, 0, exact=True)  # no data: not known (set in the training thread: not refused there)
    assert (r.batch_size, r.samples_per_epoch) == (None, None)
    r.weigh(32, 0, exact=True)
    assert (r.batch_size, r.samples_per_epoch) == (32, None)


def test_batch_loss_recovery_with_short_last_batch() -> None:
    losses = [3.0, 1.0, 2.0, 10.0]
    sizes = [32, 32, 32, 4]
    r = BatchLossRecovery(batch_size=32, samples_per_epoch=100)
    r.start_epoch()
    total = seen = 0.0
    recovered = []
    for k, (loss, n) in enumerate(zip(losses, sizes, strict=True)):
        total += loss * n
        seen += n
        recovered.append(r.update(k, total / seen))
    np.testing.assert_allclose(recovered, losses, rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(losses=st.lists(st.floats(0.0, 1e4), min_size=1, max_size=200), batch_size=st.sampled_from([None, 8]))
@example(losses=[1.401298464324817e-45, 0.0], batch_size=None)  # a subnormal mean that underflows to 0
def test_a_float32_running_mean_of_non_negative_losses_never_fails_the_floor_check(losses, batch_size) -> None:
    """Keras sums in float32: rounding alone never takes a recovered loss far enough below 0 to be
    mistaken for per-batch values."""
    size = batch_size or 1
    total, seen, means = np.float32(0), np.float32(0), []
    for loss in losses:
        total, seen = np.float32(total + np.float32(loss) * np.float32(size)), np.float32(seen + size)
        means.append(float(total / seen))
    r = BatchLossRecovery(batch_size=batch_size, floor=0.0)
    out = r.update_many(np.arange(len(losses), dtype=np.float64), np.array(means))
    assert not r.switched and not r.per_batch
    np.testing.assert_allclose(
        out, losses, rtol=1e-3, atol=1e-3 * max(losses) + 1e-30
    )  # float32 flushes tiny values to 0


def test_per_batch_values_are_taken_as_they_are_or_found_by_the_floor() -> None:
    values = np.array([1.0, 0.6, 0.9, 0.5, 0.7, 0.4])
    batches = np.arange(6, dtype=np.float64)
    np.testing.assert_array_equal(BatchLossRecovery(per_batch=True).update_many(batches, values), values)
    r = BatchLossRecovery(floor=0.0)  # read as a running mean: batch 1's loss was 0.2, batch 3's -0.7
    out = r.update_many(batches, values)
    assert r.switched and r.per_batch
    np.testing.assert_allclose(out[:3], [1.0, 0.2, 1.5])
    np.testing.assert_array_equal(out[3:], values[3:])  # from the first row below the floor: as they are
    np.testing.assert_array_equal(r.update_many(batches, values), values)


@settings(max_examples=200, deadline=None)
@given(
    losses=st.lists(st.floats(0.0, 1e4), min_size=1, max_size=60),
    gaps=st.sets(st.integers(0, 59)),
    cuts=st.sets(st.integers(1, 59)),
    batch_size=st.sampled_from([None, 8, 32]),
)
def test_batch_losses_recovered_in_any_chunks_are_the_true_ones(losses, gaps, cuts, batch_size) -> None:
    """A fit's rows are recovered in bulk, in chunks that depend on when they are read: any chunking
    gives the same losses to the bit, and they are the true ones (up to float rounding); a batch
    with no value (NaN) is a gap that changes nothing after it."""
    n = len(losses)
    size = batch_size or 1
    samples = n * size - 3 if batch_size and n * size > 3 else None  # a short last batch
    sizes = [size] * n
    if samples is not None:
        sizes[-1] = samples - size * (n - 1)
    total = seen = 0.0
    means = []
    for loss, k in zip(losses, sizes, strict=True):
        total += loss * k
        seen += k
        means.append(total / seen)
    means_with_gaps = np.array([math.nan if i in gaps else m for i, m in enumerate(means)])
    batches = np.arange(n, dtype=np.float64)

    def recovered(chunks: list[int]) -> np.ndarray:
        r = BatchLossRecovery(batch_size=batch_size, samples_per_epoch=samples)
        bounds = [0, *sorted(c for c in chunks if c < n), n]
        parts = [r.update_many(batches[a:b], means_with_gaps[a:b]) for a, b in itertools.pairwise(bounds)]
        return np.concatenate(parts)

    whole, chunked, one_by_one = recovered([]), recovered(list(cuts)), recovered(list(range(1, n)))
    np.testing.assert_array_equal(whole, chunked)
    np.testing.assert_array_equal(whole, one_by_one)
    assert all(math.isnan(whole[i]) for i in gaps if i < n)
    # Without gaps each loss is exact up to rounding; a gap merges its batch into the next one's value.
    if not gaps:
        scale = max(max(losses), 1.0) * n * 1e-9
        np.testing.assert_allclose(whole, losses, atol=scale)


@settings(max_examples=300, deadline=None)
@given(
    means=st.lists(
        st.one_of(st.floats(-10.0, 1e4), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1e308])),
        min_size=1,
        max_size=40,
    ),
    start=st.integers(0, 5),
    batch_size=st.sampled_from([None, 8, 32]),
    samples=st.sampled_from([None, 100, 1000]),
    floor=st.sampled_from([None, 0.0]),
    before=st.sampled_from([(0.0, 0.0), (96.0, 3.0), (math.inf, 32.0)]),
)
def test_a_few_rows_recovered_in_python_are_what_numpy_recovers_bit_for_bit(
    means, start, batch_size, samples, floor, before
) -> None:
    """An epoch of a few rows (a small dataset's) is recovered in plain Python (`update_few`: numpy's calls
    cost more than the arithmetic there); it gives the numpy path's values to the bit, NaN gaps, infinite
    and negative means, a short last batch and a switch to per-batch values by the floor included, and
    leaves the same state for the next rows."""
    batches = np.arange(start, start + len(means), dtype=np.float64)
    values = np.array(means, np.float64)
    made = []
    for path in ("few", "array"):
        r = BatchLossRecovery(batch_size=batch_size, samples_per_epoch=samples if batch_size else None, floor=floor)
        r._prev_total, r._prev_samples = before
        with np.errstate(all="ignore"):
            out = r.update_few(batches.tolist(), means) if path == "few" else r._update_array(batches, values)
        made.append((np.array(out, np.float64), r._prev_total, r._prev_samples, r.per_batch, r.switched))
    (few, *few_state), (array, *array_state) = made
    np.testing.assert_array_equal(np.isnan(few), np.isnan(array))
    np.testing.assert_array_equal(
        np.nan_to_num(few, nan=0.0).view(np.int64), np.nan_to_num(array, nan=0.0).view(np.int64)
    )
    assert few_state == array_state or (few_state[0] != few_state[0] and array_state[0] != array_state[0])


def test_divergence_monitor_fires_once_and_rearms() -> None:
    m = DivergenceMonitor(factor=2.0, smoothing=0.0, warmup_steps=0)
    flags = [m.update(x) for x in (1.0, 0.5, 3.0, 4.0, 0.5, 3.0)]
    assert flags == [False, False, True, False, False, True]
    with pytest.raises(ValueError, match="Argument `factor` must be > 1"):
        DivergenceMonitor(factor=1.0)


def test_a_burst_small_against_the_first_loss_is_no_divergence_a_blow_up_is() -> None:
    """A loss that learned from 2.3 to 0.02 and bursts to 0.15 for a while: 7x its best, but a
    twentieth of the way back to the untrained loss. A rise to 3.0 is a divergence, both ways (two
    steps later than by the ratio alone: the gap is met once the smoothed loss reaches ~0.6)."""
    learned = [2.3 * 0.98**i + 0.02 for i in range(300)]
    burst = learned + [0.15] * 30 + [0.02] * 30
    blow_up = learned + [3.0] * 30
    for losses, expected in ((burst, []), (blow_up, [306])):
        one = DivergenceMonitor(patience=5)
        assert [i for i, x in enumerate(losses) if one.update(x)] == expected
        assert [i for i, _, _ in DivergenceMonitor(patience=5).update_many(losses)] == expected
    ratio_only = DivergenceMonitor(patience=5, min_rise=0.0)
    assert [i for i, x in enumerate(burst) if ratio_only.update(x)] == [313]  # what the gap spares
    assert one.initial == 2.3 + 0.02 and one.gap == pytest.approx(0.25 * 2.32)
    # Re-armed once back within half the gap of the best (0.25 is 9x the best, 0.22 above it; the
    # ratio alone would wait for 0.05), so a second blow-up is told again.
    again = DivergenceMonitor(patience=5)
    flags = [i for i, x in enumerate(learned + [3.0] * 30 + [0.25] * 40 + [3.0] * 30) if again.update(x)]
    assert flags == [306, 375]
    with pytest.raises(ValueError, match="Argument `min_rise` must be >= 0"):
        DivergenceMonitor(min_rise=-0.1)
    # Carried on from a state taken before any finite loss: no gap until the first one, both ways.
    state = MonitorState(2.0, 1.0, 30, 2.0, 0.5, 0.02, 0, False)
    losses = [math.nan, math.nan, math.nan, 1.5, 3.0, 3.0, 3.0]
    flags = []
    for make in ("update", "update_many"):
        m = DivergenceMonitor(factor=2.0, smoothing=0.0, warmup_steps=0, min_rise=1.0)
        m.load_state(state)
        flags.append([i for i, x in enumerate(losses) if m.update(x)] if make == "update" else
                     [i for i, _, _ in m.update_many(losses)])  # fmt: skip
        assert m.initial == 1.5
    assert flags[0] == flags[1]
    for initial in (math.inf, 10**400):
        with pytest.raises(ValueError, match="Argument `initial` must be finite, or NaN"):
            DivergenceMonitor().load_state(state._replace(initial=initial))


def test_one_or_two_batches_far_out_are_no_divergence_a_blow_up_steady_or_bouncing_is() -> None:
    """A regression whose targets have heavy tails: one batch 30-100x the level lifted the smoothed
    loss above 4x its best for a dozen steps, and `diverging` ("lower the rate") came 3-11 times a
    fit at good rates. The smoothed loss's run above the bar now also needs 3 of the last 5 batch
    losses above 2x (`sqrt(factor)`) the best; blow-ups, steady or bouncing, are flagged at the
    same step as before."""
    level = [1.0 + 0.05 * math.sin(i) for i in range(100)]
    fits = {
        "one far out": ([*level[:60], 100.0, *level[61:]], []),
        "two in five": ([*level[:60], 100.0, 1.0, 1.0, 80.0, *level[64:]], []),
        "three in five": ([*level[:60], 100.0, 1.0, 90.0, 1.0, 80.0, *level[65:]], [64]),
        "steady": (level[:60] + [1.5**k for k in range(1, 41)], [70]),
        "bouncing": (level[:60] + [50.0 if k % 2 == 0 else 1.0 for k in range(40)], [64]),
    }
    for name, (losses, expected) in fits.items():
        one = DivergenceMonitor(patience=5)
        assert [i for i, x in enumerate(losses) if one.update(x)] == expected, name
        many = DivergenceMonitor(patience=5)
        found = [i for i, _, _ in many.update_many(losses[:62])] + [62 + i for i, _, _ in many.update_many(losses[62:])]
        assert found == expected, name
        assert many.state() == one.state() and one.state().recent == tuple(losses[-5:])
    typed = DivergenceMonitor()  # the losses as given (an int, a numpy float32) are kept as floats
    for x in (1, np.float32(1.5), 2.0):
        typed.update(x)
    assert all(type(v) is float for v in typed.state().recent)
    DivergenceMonitor().load_state(typed.state())
    m = DivergenceMonitor()
    m.update(1.0)
    before = m.state()
    for recent in ((1.0,) * 6, (math.nan,), [1.0], (1,)):
        with pytest.raises(ValueError, match="Argument `recent` must be a tuple of at most 5 finite floats"):
            m.load_state(before._replace(recent=recent))
    assert m.state() == before


def test_history_records_and_exports(tmp_path) -> None:
    h = TrainingHistory()
    h.start_epoch(0)
    for i in range(5):
        h.record_step(loss=1.0 / (i + 1), learning_rate=1e-3, time=0.01 * i)
    h.record_epoch(0, {"loss": 0.5, "val_loss": 0.6, "not_a_number": "x"})
    h.start_epoch(1)
    h.record_step(loss=float("nan"), learning_rate=1e-2, time=0.1)
    h.add_event("learning_rate", "set", value=1e-2, source="user")
    assert h.num_steps == 6
    assert h.step_epochs().tolist() == [0, 0, 0, 0, 0, 1]
    assert h.epochs == [{"epoch": 0, "step": 4, "loss": 0.5, "val_loss": 0.6}]
    assert h.events[0].step == 5 and h.events[0].epoch == 1
    data = json.loads(h.to_json(tmp_path / "h.json"))
    assert data["steps"]["loss"][5] is None  # NaN written as null
    assert len(data["steps"]["step"]) == 6 and data["events"][0]["source"] == "user"
    df = h.to_dataframe()
    assert list(df.columns) == ["fit", "epoch", "loss", "learning_rate", "time"] and len(df) == 6
    h.to_csv(tmp_path / "e.csv", level="epoch")
    assert "val_loss" in (tmp_path / "e.csv").read_text()
    # Every column named: the epochs' and events' files began with an unnamed column of row numbers.
    for level, first in (("step", "step,fit,epoch,loss"), ("epoch", "fit,epoch,step,"), ("events", "step,epoch,kind,")):
        h.to_csv(tmp_path / f"{level}.csv", level=level)
        assert (tmp_path / f"{level}.csv").read_text().startswith(first)
    with pytest.raises(TypeError, match="Argument `path` must be a file path or a file object"):
        h.to_csv(None)  # pandas returned the text, written nowhere
    text = io.StringIO()
    h.to_csv(text, level="epoch")  # a file object, as pandas takes it
    assert "val_loss" in text.getvalue()
    with pytest.raises(ValueError, match="Argument `level`"):
        h.to_dataframe("batch")
    with pytest.raises(ValueError, match="read-only"):
        h.loss[0] = 3.0  # read-only view


def test_exports_number_the_fits_whose_epochs_each_count_from_0() -> None:
    """Two fits of one history: each counts its epochs from 0, so without the fit an epoch's rows
    in a table could not be told apart from the other fit's."""
    h = TrainingHistory()
    h.add_event("learning_rate", "before any fit", value=1e-3, source="user")
    for fit, steps in enumerate((3, 2)):
        h.start_fit()
        h.start_epoch(0)
        for _ in range(steps):
            h.record_step(loss=1.0, learning_rate=1e-3, time=0.0)
        h.record_epoch(0, {"loss": 1.0})
        h.add_event("stop", f"fit {fit} stopped")
    steps = h.to_dataframe()
    assert steps["fit"].tolist() == [0, 0, 0, 1, 1] and steps["epoch"].tolist() == [0] * 5
    epochs = h.to_dataframe("epoch")
    assert epochs[["fit", "epoch", "step"]].values.tolist() == [[0, 0, 2], [1, 0, 4]]
    assert h.to_dataframe("events")["fit"].tolist() == [0, 0, 1]
    assert [e["fit"] for e in json.loads(h.to_json())["events"]] == [0, 0, 1]
    assert TrainingHistory().to_dataframe()["fit"].tolist() == []
    # With nothing recorded yet, the same columns: a filter on them works on an empty table.
    empty = TrainingHistory()
    assert empty.to_dataframe("events")[lambda ev: ev["kind"] == "stop"].empty
    assert list(empty.to_dataframe("events").columns) == list(h.to_dataframe("events").columns)
    assert empty.to_dataframe("epoch")[["fit", "epoch", "step"]].empty


def test_an_event_of_a_fit_before_its_first_step_has_that_fits_step_and_epoch() -> None:
    """Made between fits for the next one, or between a fit's start and its first step (Keras's
    warnings in its first callbacks), an event is that fit's, at its first step and in its first
    epoch (here 5: a fit resumed with `initial_epoch=5`), not the last fit's."""
    h = TrainingHistory()
    h.start_fit()
    h.start_epoch(0)
    for _ in range(3):
        h.record_step(loss=1.0, learning_rate=1e-3, time=0.0)
    h.start_epoch(1)
    h.record_step(loss=1.0, learning_rate=1e-3, time=0.0)
    h.add_event("stop", "stopped")
    h.add_event("learning_rate", "set between fits", value=1e-2, step=h.num_steps, fit=h.num_fits)
    h.start_fit()
    h.add_event("warning", "in the set-up")
    h.start_epoch(5)
    h.record_step(loss=1.0, learning_rate=1e-2, time=0.0)
    h.add_event("info", "after a step")
    assert [(e.fit, e.step, e.epoch) for e in h.events] == [(0, 3, 1), (1, 4, 5), (1, 4, 5), (1, 4, 5)]


def test_a_change_at_a_step_to_come_after_a_fit_ended_is_the_next_fits() -> None:
    """At the step after the last, an event is the running fit's; once that fit has ended, the
    next one's (it applies from there), in epoch 0 until that fit's first epoch starts, even with
    events of the last fit recorded after it. A fit that never starts an epoch keeps epoch 0."""
    h = TrainingHistory()
    h.start_fit()
    h.start_epoch(0)
    h.start_epoch(1)
    h.record_step(loss=1.0, learning_rate=1e-3, time=0.0)
    h.add_event("learning_rate", "in the fit, from the next step", step=1)
    h.end_fit()
    h.add_event("learning_rate", "at its end, from the next step", step=1)
    h.add_event("stop", "stopped")
    assert [(e.fit, e.step, e.epoch) for e in h.events] == [(0, 1, 1), (1, 1, 0), (0, 0, 1)]
    h.start_fit()
    h.add_event("info", "in its set-up")
    h.end_fit()  # stopped before its first epoch
    h.add_event("stop", "stopped")
    assert [(e.fit, e.step, e.epoch) for e in h.events][-2:] == [(1, 1, 0), (1, 1, 0)]
    h.start_fit()
    h.start_epoch(2)
    assert [(e.fit, e.epoch) for e in h.events] == [(0, 1), (1, 0), (0, 1), (1, 0), (1, 0)]


def test_history_memory_is_a_few_bytes_per_step() -> None:
    h = TrainingHistory()
    for _ in range(100_000):
        h.record_step(1.0, 1e-3, 0.0)
    assert h.nbytes / h.num_steps <= 3 * 4 * 1.4  # three float32 columns, growth slack


def test_history_keeps_values_beyond_float32_as_inf_and_numpy_scalars() -> None:
    """The per-step write's fast path (a memoryview) must store what a numpy row write stores."""
    h = TrainingHistory()
    for i in range(1500):  # past the first growth of the buffer
        h.record_step(float(i), 1e-3, i / 10)
    h.record_step(1e39, np.float32(2e-3), np.float64(150.1))
    h.record_step(-1e39, 3, 150.2)
    assert h.num_steps == 1502
    assert h.column("loss")[1499] == 1499.0 and h.column("loss")[1500] == np.inf
    assert h.column("loss")[1501] == -np.inf
    np.testing.assert_array_equal(h.column("learning_rate")[-2:], np.float32([2e-3, 3.0]))
    np.testing.assert_array_equal(h.column("time")[-2:], np.float32([150.1, 150.2]))


def test_diverging_scan_of_recorded_steps_equals_feeding_them_one_by_one() -> None:
    """The recorder scans its new rows a few times a second: the verdicts must be the per-step ones."""
    from lrwidgets.core.detectors import DivergingDetector

    rng = np.random.default_rng(0)
    losses = np.concatenate([np.linspace(2.0, 0.5, 60), np.full(20, 5.0), np.full(30, 0.5), np.full(20, 9.0)])
    losses = (losses * rng.uniform(0.9, 1.1, losses.size)).tolist()
    losses[70] = math.nan  # skipped, as the recorder never feeds a non-finite loss
    rates = [1e-3] * len(losses)
    one_by_one = DivergingDetector(4.0)
    expected = [
        v
        for i, (x, r) in enumerate(zip(losses, rates, strict=True))
        if math.isfinite(x) and (v := one_by_one.update(i, x, r))
    ]
    scanned = DivergingDetector(4.0)
    found = scanned.scan(0, losses[:65], rates[:65]) + scanned.scan(65, losses[65:], rates[65:])
    assert [(v.first_step, v.last_step, v.message) for v in found] == [
        (v.first_step, v.last_step, v.message) for v in expected
    ]
    assert len(found) == 2  # the jump at step 60, and again at 110 after coming back


def test_a_classifiers_small_batches_need_a_rise_past_their_own_noise_to_diverge() -> None:
    """A binary model's loss (untrained ln 2) near 0.02, then 15 batches at 0.35: at batch 8 that is
    one confidently wrong sample in most batches (16.1 / 8 each), no divergence; at 32 samples, or in
    a regression's loss (unbounded: no such unit), the rise past 4x and the 0.17 gap is one. A loss
    back at untrained and above is one at any batch size (the floor is at most half the first loss)."""
    from lrwidgets.core.detectors import DivergingDetector
    from lrwidgets.core.diagnostics import small_batch_gap

    assert small_batch_gap(8) == 0.5 and small_batch_gap(32) == 0.125 and small_batch_gap(None) == 0.0
    burst = [0.69] + np.geomspace(0.6, 0.02, 59).tolist() + [0.35] * 15 + [0.02] * 30
    blown = burst[:60] + [0.9] * 30

    def flags(losses: list[float], samples: int | None, classifier: bool) -> list[int]:
        rule = DivergingDetector(4.0)
        rule.use_samples(samples if classifier else None)
        return [v.last_step for v in rule.scan(0, losses, [1e-3] * len(losses))]

    assert flags(burst, None, True) and flags(burst, 32, True) and flags(burst, 8, False)
    assert flags(burst, 8, True) == [] and flags(burst, 1, True) == []
    assert flags(blown, 8, True) and flags(blown, 1, False)
    back = burst[:60] + [0.69] * 30  # back at the untrained loss: the floor is at most half of it
    assert flags(back, 4, True) and flags(back, 1, True) and flags(blown, 1, True)
    rule = DivergingDetector(4.0)
    rule.use_samples(8)
    rule.use_samples(None)  # the next fit's size not known: no floor left behind
    assert rule.monitor.min_gap == 0.0


def test_a_divergence_monitor_carries_on_from_its_state() -> None:
    rng = np.random.default_rng(3)
    losses = np.concatenate([np.exp(-np.linspace(0, 3, 60)), np.exp(np.linspace(-3, 2, 60))]) * rng.uniform(
        0.8, 1.2, 120
    )
    whole = DivergenceMonitor(factor=2.0, warmup_steps=5, patience=2)
    for x in losses[:70]:
        whole.update(float(x))
    carried = DivergenceMonitor(factor=2.0, warmup_steps=5, patience=2)
    carried.load_state(whole.state())
    rest = [whole.update(float(x)) for x in losses[70:]]
    assert rest == [carried.update(float(x)) for x in losses[70:]] and any(rest)  # it flags after the cut
    assert whole.state() == carried.state()


def test_a_state_that_is_not_one_is_refused_by_name_and_changes_nothing() -> None:
    m = DivergenceMonitor()
    m.update(1.0)
    before = m.state()
    with pytest.raises(TypeError, match="Argument `state` must be a MonitorState"):
        m.load_state((1.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Argument `steps`"):
        m.load_state(before._replace(steps=-1))
    with pytest.raises(TypeError, match="Argument `flagged` must be a bool"):
        m.load_state(before._replace(flagged=1))
    with pytest.raises(TypeError, match="Argument `acc` must be a float"):
        m.load_state(before._replace(acc="1"))
    assert m.state() == before
    s = EmaSmoother(0.5)
    with pytest.raises(ValueError, match="Argument `weight` must be >= 0"):
        s.load_state(1.0, -0.5)
    assert s.state() == (0.0, 0.0)
    s.load_state(2.0, 1.0)  # NaN and infinities are states too (a loss overflowing to inf)
    assert s.update(4.0) == 3.0
    assert repr(s) == "EmaSmoother(smoothing=0.5, acc=3.0, weight=1.0)"  # its state, exactly: comparable


@settings(max_examples=300, deadline=None)
@given(
    losses=st.lists(
        st.one_of(
            st.floats(0.0, 100.0),
            st.sampled_from([0.0, 1.0, 4.0, 16.0]),  # ties with the thresholds, flat runs that flag and re-arm
            st.just(math.nan),
            st.just(math.inf),
            st.floats(-1.0, 0.0),
        ),
        max_size=300,
    ),
    cuts=st.lists(st.integers(0, 300), max_size=6),
    factor=st.sampled_from([1.1, 2.0, 4.0]) | st.floats(1.1, 10.0),
    smoothing=st.sampled_from([0.0, 0.9]) | st.floats(0.0, 0.99),
    warmup=st.integers(0, 30),
    patience=st.integers(1, 6),
    noise_floor=st.sampled_from([0.0, 1e-2, 0.5]),
    min_rise=st.sampled_from([0.0, 0.25, 1.0]),
    min_gap=st.sampled_from([0.0, 0.5, 4.0]),
)
def test_divergence_monitor_update_many_is_update_per_loss(
    losses: list[float], cuts: list[int], factor: float, smoothing: float, warmup: int, patience: int,
    noise_floor: float, min_rise: float, min_gap: float,
) -> None:  # fmt: skip
    """The recorder scans new steps in runs of any length, in numpy: the verdicts and state of one
    ``update`` a loss, to the bit."""
    kw = dict(
        factor=factor, smoothing=smoothing, warmup_steps=warmup, patience=patience, noise_floor=noise_floor,
        min_rise=min_rise,
    )  # fmt: skip
    single = DivergenceMonitor(**kw)
    single.min_gap = min_gap
    expected = []
    for i, x in enumerate(losses):
        if single.update(x):
            expected.append((i, single.smoothed, single.best))
    many = DivergenceMonitor(**kw)
    many.min_gap = min_gap
    found = []
    bounds = sorted({0, len(losses), *(c for c in cuts if c < len(losses))})
    for lo, hi in itertools.pairwise(bounds):
        found += [(i + lo, s, b) for i, s, b in many.update_many(losses[lo:hi])]
    assert found == expected
    assert (many.best, many._floor, many._above, many._flagged) == (
        single.best,
        single._floor,
        single._above,
        single._flagged,
    )
    assert repr(many.initial) == repr(single.initial)
    assert many.smoothed == single.smoothed or (math.isnan(many.smoothed) and math.isnan(single.smoothed))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan), st.just(math.inf), st.just(-math.inf))),
    cuts=st.lists(st.integers(0, 400), max_size=5),
    max_points=st.integers(8, 40),
)
def test_decimator_extend_keeps_the_buckets_of_appending_one_by_one(
    values: list[float], cuts: list[int], max_points: int
) -> None:
    """A view's refresh feeds its new steps in one call: the kept points must be append's."""
    one = MinMaxDecimator(max_points)
    for v in values:
        one.append(v)
    many = MinMaxDecimator(max_points)
    bounds = sorted({0, len(values), *(c for c in cuts if c < len(values))})
    for lo, hi in itertools.pairwise(bounds):
        many.extend(np.array(values[lo:hi]))
    np.testing.assert_array_equal(many.indices(), one.indices())
    assert (len(many), many.bucket_width) == (len(one), one.bucket_width)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan), st.just(math.inf))),
    smoothing=st.floats(0.0, 0.999),
)
def test_ema_update_many_is_update_per_value(values: list[float], smoothing: float) -> None:
    one = EmaSmoother(smoothing)
    expected = [one.update(v) for v in values]
    many = EmaSmoother(smoothing)
    got = many.update_many(values[: len(values) // 2]) + many.update_many(values[len(values) // 2 :])
    np.testing.assert_array_equal(np.array(got), np.array(expected))


def test_more_arguments_are_refused_by_name_and_change_nothing() -> None:
    """Found by a review of every public constructor: each of these was taken silently."""
    history = TrainingHistory()
    with pytest.raises(ValueError, match=r"Argument `n` must be >= 0. Received: n=-3"):
        history.column("loss", n=-3)
    for bad, error in ((0, ValueError), (-1, ValueError), ("32", TypeError), (2.5, ValueError)):
        with pytest.raises(error, match=r"Argument `batch_size`"):
            BatchLossRecovery(batch_size=bad)
    with pytest.raises(TypeError, match=r"Argument `smoothing` must be a float"):
        EmaSmoother("0.5")
    with pytest.raises(ValueError, match=r"Argument `smoothing` must be < 1"):
        EmaSmoother(1.0)
    assert EmaSmoother(np.float32(0.5)).smoothing == 0.5
    assert math.isfinite(EmaSmoother(0.0).smoothing)


def test_a_rate_too_small_for_float32_is_refused_in_words_that_fit_its_argument() -> None:
    """A rate must be > 0: the message for one that rounds to 0 does not offer 0; a frozen phase's may."""
    from lrwidgets.core.checks import check_rate

    with pytest.raises(ValueError, match=r"must be at least 1.4e-45 in float32: this value rounds to 0") as raised:
        check_rate("learning_rate", 1e-50)
    assert "0 or" not in str(raised.value)
    with pytest.raises(ValueError, match=r"must be 0 or at least 1.4e-45"):
        check_rate("learning_rate", 1e-50, allow_zero=True)
    assert check_rate("learning_rate", 0.0, allow_zero=True) == 0.0


@settings(deadline=None)
@given(
    lo=st.floats(min_value=1e-30, max_value=1e30),
    ratio=st.floats(min_value=1.0, max_value=1e40),
    max_ticks=st.integers(min_value=1, max_value=10),
)
@example(lo=2.1, ratio=2.3 / 2.1, max_ticks=6)  # no round value within: slice step 0 raised
@example(lo=3.1e-3, ratio=3.5 / 3.1, max_ticks=6)  # a rate of 3.1e-3 set to 3.5e-3 mid-fit
@example(lo=1e-8, ratio=1e9, max_ticks=6)  # one a decade is too many: every other decade
def test_log_ticks_are_few_sorted_and_within_the_range(lo: float, ratio: float, max_ticks: int) -> None:
    from lrwidgets.core.ticks import log_ticks

    hi = lo * ratio
    ticks = log_ticks(lo, hi, max_ticks)
    assert 1 <= len(ticks) <= max_ticks
    assert ticks == sorted(set(ticks))
    # within the range, but for the rounding to three significant digits of an in-between value
    assert lo * (1 - 5e-3) <= ticks[0] and ticks[-1] <= hi * (1 + 5e-3)
