"""The run's event stream: each event encoded in the run process decodes to the same event in the app; live text
is coalesced to at most ~10 deltas a second per section and never arrives after its section's end; a cancel
reaches its listeners at the moment it happens."""

from __future__ import annotations

import threading
import time

import pytest

from wfdesk.cancel import CancelToken
from wfdesk.runs.events import (
    EventObserver,
    RunCreated,
    RunFailed,
    RunFinished,
    RunRefusedError,
    RunStarted,
    TextCoalescer,
    TextDelta,
    UnitChanged,
    decode,
    encode,
)

EVENTS = [
    RunCreated(7, 1, 53, "http://127.0.0.1:1/v1"),
    RunStarted(7, [{"unit_id": 1, "section_id": 711}, {"unit_id": 2, "section_id": None}]),
    UnitChanged(7, {"section_id": 711, "unit_id": 1, "status": "success", "output": "é ✓ \"quoted\"\n"}),
    TextDelta(7, 711, "Hello, wor", restart=True),
    TextDelta(7, None, "post-wide"),
    RunFinished(7, {"run_id": 7, "status": "succeeded", "results": []}),
    RunRefusedError("Step 99 does not exist"),
    RunFailed("the run process ended unexpectedly", process_ended=True),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_decodes_to_itself(event):
    line = encode("req-1", event)
    assert "\n" not in line
    assert decode(line) == ("req-1", event)


def test_the_wire_names_stay_those_of_the_first_protocol():
    assert encode("c", RunRefusedError("no")) == '{"id": "c", "event": "refused", "message": "no"}'


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '{"id": "a", "event": "nope"}',
                                  '{"id": "a", "event": "unit", "run_id": 1}',
                                  '{"id": "a", "event": "refused", "message": "x", "extra": 1}'])
def test_anything_else_is_not_an_event(line):
    with pytest.raises(ValueError):  # noqa: PT011 - json's own ValueError or ours: both mean "not an event"
        decode(line)


def test_a_fast_stream_is_coalesced_and_loses_nothing():
    sent: list[TextDelta] = []
    coalescer = TextCoalescer(sent.append, interval_s=0.1)
    pieces = [f"w{i} " for i in range(600)]
    began = time.monotonic()
    for piece in pieces:  # 600 tokens in ~0.6 s: a fast model
        coalescer.add(TextDelta(1, 711, piece))
        time.sleep(0.001)
    elapsed = time.monotonic() - began
    coalescer.flush()
    assert "".join(d.text for d in sent) == "".join(pieces)
    # At most one delta per 100 ms (+ the first at once and the flush at the end).
    assert len(sent) <= elapsed / 0.1 + 2, (len(sent), elapsed)
    assert len(sent) >= 2


def test_the_end_of_a_burst_is_sent_without_waiting_for_more():
    sent: list[TextDelta] = []
    got = threading.Event()
    coalescer = TextCoalescer(lambda d: (sent.append(d), got.set() if len(sent) == 2 else None), interval_s=0.05)
    coalescer.add(TextDelta(1, 711, "first "))
    coalescer.add(TextDelta(1, 711, "second"))  # within the interval: waits for the timer
    assert got.wait(5)
    assert [d.text for d in sent] == ["first ", "second"]


def test_sections_are_coalesced_apart_and_a_restart_starts_over():
    sent: list[TextDelta] = []
    coalescer = TextCoalescer(sent.append, interval_s=10)
    coalescer.add(TextDelta(1, 711, "a"))
    coalescer.add(TextDelta(1, 712, "b"))  # another section: not held back by the first one's interval
    coalescer.add(TextDelta(1, 711, "lost "))
    coalescer.add(TextDelta(1, 711, "again", restart=True))  # a retry: what waited is dropped
    coalescer.flush()
    assert sent == [TextDelta(1, 711, "a"), TextDelta(1, 712, "b"), TextDelta(1, 711, "again", restart=True)]


def test_a_sections_text_arrives_before_its_end():
    events: list = []
    observer = EventObserver(events.append, interval_s=10)
    observer.text_delta(1, 711, "Hel")
    observer.text_delta(1, 711, "lo")  # held back by the interval...
    observer.unit_changed(1, {"section_id": 711, "status": "success"})  # ...and sent before the section's end
    observer.run_finished(1, {"status": "succeeded"})
    assert events == [TextDelta(1, 711, "Hel"), TextDelta(1, 711, "lo"),
                      UnitChanged(1, {"section_id": 711, "status": "success"}),
                      RunFinished(1, {"status": "succeeded"})]


def test_a_cancel_calls_its_listeners_at_once_and_only_once():
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("a"))
    forget = token.on_cancel(lambda: calls.append("forgotten"))
    forget()
    token.cancel()
    token.cancel()
    token.on_cancel(lambda: calls.append("late"))  # after the cancel: called at once
    assert calls == ["a", "late"]
