"""Flow control between the kernel and the page (the front end is tested in js/pacer.test.js)."""

from __future__ import annotations

import threading
import time

import pytest

from lrwidgets.widgets.pacer import BrowserPacer
from tests.helpers import linear_model, regression_data


def ack(pacer: BrowserPacer, seq: int) -> None:
    """What the page's answer does in the kernel."""
    pacer._handle_custom_msg({"type": "ack", "seq": seq}, [])


def test_unpaced_until_the_page_first_answers() -> None:
    pacer = BrowserPacer(fallback=60.0)
    pacer.sent()
    pacer.sent()
    assert pacer.ready()  # a page that never answers (or no view at all) is not waited for


def test_paced_once_the_page_answers_with_a_fallback() -> None:
    acked: list[int] = []
    # A fallback no pause of this thread outlasts, shortened only for its own check at the end.
    pacer = BrowserPacer(fallback=600.0, on_ack=lambda: acked.append(pacer.acks))
    pacer.sent()
    ack(pacer, 1)
    assert acked == [1] and pacer.ready()
    pacer.sent()
    assert not pacer.ready()  # update 2 not drawn yet
    ack(pacer, 2)
    assert pacer.ready()
    pacer.fallback = 0.2
    pacer.sent()
    time.sleep(0.25)
    assert pacer.ready()  # no answer within the fallback: send anyway
    ack(pacer, 1)  # a late answer to an old update changes nothing
    assert pacer._acked == 2


def test_other_messages_are_ignored() -> None:
    pacer = BrowserPacer()
    pacer._handle_custom_msg({"type": "ack", "seq": "1"}, [])
    pacer._handle_custom_msg({"type": "preset"}, [])
    assert pacer.acks == 0


@pytest.mark.keras
def test_dashboard_waits_for_the_page_then_catches_up() -> None:
    import lrwidgets as lrw

    x, y = regression_data(4096)
    dash = lrw.TrainingDashboard(linear_model(), update_interval=0.02)
    dash._pacer.fallback = 60.0
    refreshes: list[float] = []
    refresh = dash.refresh

    def counting() -> None:
        refreshes.append(time.monotonic())
        refresh()

    dash.refresh = counting  # type: ignore[method-assign]
    # A view after the dashboard's: once it sees "paused", the dashboard has held its update back.
    paused = threading.Event()
    dash.session.subscribe(lambda snapshot: paused.set() if snapshot.progress.state == "paused" else None)
    run = dash.fit(x, y, epochs=1000, batch_size=8)
    try:
        deadline = time.monotonic() + 60
        while len(refreshes) < 3:  # unpaced at first: the page has not answered yet
            assert time.monotonic() < deadline
            time.sleep(0.01)
        ack(dash._pacer, dash._pacer._seq)  # the page drew the last update: pacing starts
        seen = len(refreshes)
        rounds = dash.session.controller.listeners
        start = rounds.rounds
        # Six rounds of the session's views without an answer from the page (counted, not timed:
        # the throttle spreads rounds further apart on a busy machine).
        while rounds.rounds < start + 6:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert len(refreshes) - seen <= 1, "updates went on though the page had not drawn the last one"
        assert dash._behind
        # Pause: the training thread stops ticking, and the update saying "paused" is held back.
        dash.pause()
        assert paused.wait(60)
        before = len(refreshes)
        ack(dash._pacer, dash._pacer._seq)  # the answer comes: the held-back update goes at once
        assert len(refreshes) == before + 1 and "paused" in dash._status.value
        assert not dash._pacer.ready()  # ... asking for an answer in turn: the next one waits for it
    finally:
        run.stop()
        run.wait(60)
    assert "idle" in dash._status.value  # the end of a fit always redraws, paced or not


@pytest.mark.keras
def test_a_fit_in_the_kernel_thread_is_not_paced() -> None:
    """`model.fit(..., callbacks=[dash.callback])` holds the kernel: no answer can come meanwhile."""
    import lrwidgets as lrw

    x, y = regression_data(2048)
    model = linear_model()
    dash = lrw.TrainingDashboard(model, update_interval=0.01)
    dash._pacer.fallback = 60.0
    dash._pacer.sent()
    ack(dash._pacer, 1)  # the page answered before (say, during an earlier background fit)
    dash._pacer.sent()  # ... and has not answered the last update
    calls: list[int] = []
    refresh = dash.refresh
    dash.refresh = lambda: (calls.append(1), refresh())[1]  # type: ignore[method-assign]
    model.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[dash.callback])
    assert len(calls) > 3, calls
    assert dash._pacer._seq == 2  # ... and asks for no acknowledgement: one message less an update


def test_an_acknowledgement_of_an_update_never_sent_is_refused() -> None:
    errors: list[str] = []
    pacer = BrowserPacer(fallback=60.0, on_error=errors.append)
    pacer.sent()
    ack(pacer, 10**18)  # would mark every future update as drawn: pacing off for good
    for bad in (0, -1, True, None, 1.0):
        ack(pacer, bad)  # type: ignore[arg-type]
    assert pacer.acks == 0
    assert "Received: seq=1000000000000000000" in errors[0]
    assert len(errors) == 6 and pacer.error == errors[-1]
    ack(pacer, 1)
    pacer.sent()
    assert not pacer.ready()  # still paced: update 2 is not drawn yet
    ack(pacer, 2)
    assert pacer.ready()


def test_an_error_in_on_ack_is_shown_not_lost() -> None:
    def fail() -> None:
        raise RuntimeError("redraw failed")

    pacer = BrowserPacer(on_ack=fail)
    pacer.sent()
    ack(pacer, 1)
    assert pacer.error == "RuntimeError: redraw failed"
