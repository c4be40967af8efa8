"""Live text through the engine and the run process: a watched LLM run streams by default and its answer comes as
text deltas, each before its section's end; an unwatched run (CLI, `wfdesk serve`) asks for a plain answer unless
the step says otherwise; a cancel stops a stream the server is holding, at once."""

from __future__ import annotations

import threading

import pytest

from wfdesk.cancel import CancelToken
from wfdesk.runs import child_client
from wfdesk.runs.engine import RunOptions, execute_step
from wfdesk.runs.events import EventObserver, RunEvent, TextDelta, UnitChanged

REPLY = "We arrived late in Inverness. The rain was heavy and the road was long."


def _chats(loopback):
    return [r.json for r in loopback.requests if r.path.endswith("/chat/completions")]


def test_a_watched_run_streams_and_each_sections_text_comes_before_its_end(demo, loopback):
    loopback.chat_reply = lambda req: REPLY
    events: list[RunEvent] = []
    result = execute_step(demo, 1, 53, {"section_ids": [711, 712]}, RunOptions(observer=EventObserver(events.append)))
    assert result["status"] == "succeeded"
    assert [c["stream"] for c in _chats(loopback)] == [True, True]
    for sid in (711, 712):
        texts = [i for i, e in enumerate(events) if isinstance(e, TextDelta) and e.section_id == sid]
        end = next(i for i, e in enumerate(events) if isinstance(e, UnitChanged) and e.entry["section_id"] == sid
                   and e.entry["status"] == "success")
        assert texts
        assert max(texts) < end
        assert "".join(events[i].text for i in texts) == REPLY


@pytest.mark.parametrize(("parameters", "observed", "streamed"), [
    ({}, False, None),  # the CLI, `wfdesk serve`: plain
    ({"stream": True}, False, True),  # unless the step asks for streaming
    ({"stream": False}, True, None),  # a step that says no is obeyed in the app too
])
def test_streaming_follows_the_step_and_whether_anyone_watches(demo, loopback, parameters, observed, streamed):
    events: list[RunEvent] = []
    options = RunOptions(observer=EventObserver(events.append) if observed else None)
    result = execute_step(demo, 1, 53, {"section_ids": [711], "parameters": parameters}, options)
    assert result["status"] == "succeeded"
    assert [c.get("stream") for c in _chats(loopback)] == [streamed]
    assert not [e for e in events if isinstance(e, TextDelta)]


def test_a_server_that_refuses_streaming_gets_the_plain_request_when_streaming_was_not_asked_for(demo, loopback):
    events: list[RunEvent] = []
    context = {"section_ids": [711], "parameters": {"model": "no-stream-1"}}
    result = execute_step(demo, 1, 53, context, RunOptions(observer=EventObserver(events.append)))
    assert result["status"] == "succeeded"
    assert [c.get("stream") for c in _chats(loopback)] == [True, None]
    loopback.reset()
    context["parameters"]["stream"] = True  # asked for: the refusal is the section's error, in the server's words
    result = execute_step(demo, 1, 53, context, RunOptions(observer=EventObserver(events.append)))
    assert result["results"][0]["status"] == "error"
    assert "Streaming is not supported" in result["results"][0]["error"]


def test_a_cancel_reaches_a_held_stream_in_the_run_process_at_once(demo, loopback):
    loopback.chat_reply = lambda req: REPLY
    loopback.stream_hold = threading.Event()
    loopback.stream_hold_after = 2
    texts: list[str] = []
    written = threading.Condition()

    class Watcher:
        def run_started(self, run_id, units):
            pass

        def unit_changed(self, run_id, entry):
            pass

        def text_delta(self, run_id, section_id, text, restart):
            with written:
                texts.append(text)
                written.notify_all()

        def run_finished(self, run_id, result):
            pass

    token = CancelToken()
    outcome: list[dict] = []
    thread = threading.Thread(target=lambda: outcome.append(child_client.run_in_child(
        demo, {"action": "start", "step_id": 1, "post_id": 53, "context": {"section_ids": [711]}},
        RunOptions(observer=Watcher(), cancel=token))))
    thread.start()
    with written:  # the two words the server sends before it holds the rest back
        assert written.wait_for(lambda: "".join(texts) == "We arrived ", 60), texts
    token.cancel()
    thread.join(30)
    assert not thread.is_alive()
    assert not loopback.stream_hold.is_set()  # the server never went on: the cancel cut the stream
    assert outcome[0]["status"] == "cancelled"
