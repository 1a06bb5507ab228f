import pytest

from hub.cases.lifecycle import ALLOWED, CaseStatus, TransitionRefused, check


@pytest.mark.parametrize(("current", "target"), [(c, t) for c in CaseStatus for t in CaseStatus])
def test_every_transition_is_either_allowed_or_refused_with_a_message(
    current: CaseStatus, target: CaseStatus
) -> None:
    if target in ALLOWED[current]:
        check(current, target)
    else:
        with pytest.raises(TransitionRefused, match=f"a case that is {current} cannot become {target}"):
            check(current, target)


def test_closed_and_cancelled_are_final() -> None:
    assert ALLOWED[CaseStatus.CLOSED] == frozenset()
    assert ALLOWED[CaseStatus.CANCELLED] == frozenset()
