from __future__ import annotations

import pytest

from dana_poet.poet.errors import POETFeedbackError
from dana_poet.poet.feedback import translate_feedback

TEXT = [
    ("great, exactly right", 1, "accuracy", None),
    ("not good", -1, "accuracy", None),
    ("this is wrong", -1, "accuracy", None),
    ("not wrong at all", 1, "accuracy", None),
    ("too many false alarms", -1, "accuracy", False),
    ("no false alarms today", 1, "accuracy", True),
    ("it missed the drift", -1, "accuracy", None),
    ("way too slow", -1, "performance", None),
    ("the output format is confusing", -1, "usability", None),
    ("it crashed with an error", -1, "error", None),
]


@pytest.mark.parametrize(("text", "sign", "kind", "correct"), TEXT)
def test_text(text, sign, kind, correct):
    signal = translate_feedback(text, output=True, parameters={"threshold": 10.0})
    assert (signal.sentiment > 0) == (sign > 0), signal
    assert signal.kind == kind
    if correct is not None:
        assert signal.correct is correct


def test_false_alarm_hints_at_raising_the_threshold():
    signal = translate_feedback(
        "false alarm: 12 is normal", output=True, parameters={"threshold": 10.0}
    )
    assert signal.correct is False
    assert signal.parameter_hints == {"threshold": "increase"}
    missed = translate_feedback(
        "you missed a real drift", output=False, parameters={"threshold": 10.0}
    )
    assert missed.parameter_hints == {"threshold": "decrease"}
    named = translate_feedback("threshold is too high", parameters={"threshold": 1.0, "window": 3})
    assert named.parameter_hints["threshold"] == "decrease"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 1.0), (1, -1.0), (3, 0.0), (10, 1.0), (0, -1.0), (0.75, 0.5), (-0.5, -0.5), (7, 0.4)],
)
def test_numbers_are_read_on_their_scale(value, expected):
    assert translate_feedback(value).sentiment == pytest.approx(expected)


def test_dicts_bools_and_lists():
    s = translate_feedback({"correct": False, "expected": False}, output=True)
    assert s.correct is False and s.expected is False and s.kind == "label"
    s = translate_feedback({"expected": 3}, output=3)
    assert s.correct is True
    s = translate_feedback({"rating": 4, "comment": "pretty good"})
    assert s.sentiment > 0
    assert translate_feedback(True).correct is True
    combined = translate_feedback(["bad", 1, {"correct": False}])
    assert combined.sentiment < 0 and combined.correct is False


@pytest.mark.parametrize("payload", ["", "   ", {}, {"color": "blue"}, [], None, 1000, object()])
def test_unusable_feedback_is_refused(payload):
    with pytest.raises(POETFeedbackError):
        translate_feedback(payload)
