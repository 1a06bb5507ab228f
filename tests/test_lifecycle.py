"""The lifecycle table, pinned: every move, the statuses it leaves from and the one it reaches, written
out here by hand so that a changed edge in `hub.domain.cases.MOVES` fails this test."""

import pytest

from hub.domain.cases import CaseStatus, Move, TransitionRefused, check

N, D, A, P = CaseStatus.NEW, CaseStatus.DISPATCHED, CaseStatus.ACKNOWLEDGED, CaseStatus.IN_PROGRESS
R, C, RE, X = CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.REOPENED, CaseStatus.CANCELLED

EXPECTED: dict[Move, tuple[set[CaseStatus | None], set[CaseStatus]]] = {
    Move.OPEN: ({None}, {N}),
    Move.DISPATCH: ({N}, {D}),
    Move.ASSIGN: ({N, D, A, P, RE}, {D}),
    Move.ACKNOWLEDGE: ({D, RE}, {A}),
    Move.CLAIM: ({D}, {A}),
    Move.START: ({A, RE}, {P}),
    Move.RESOLVE: ({P}, {R}),
    Move.CLOSE: ({R}, {C}),
    Move.REOPEN: ({R}, {RE}),
    Move.CANCEL: ({N, D, A, P, RE}, {X}),
    Move.MERGE: ({N, D, A, P, RE}, {X}),
    Move.ABSORB: ({N, D, A, P, RE}, {X}),
    Move.FOLD: ({N, D}, {X}),
    Move.SPLIT: ({X}, {N, D, A, P, RE}),
    Move.WITHDRAW: ({N, D}, {X}),
    Move.HAND_BACK: ({D, A, P, RE}, {D}),
}
ALL: list[CaseStatus | None] = [None, *CaseStatus]
CASES = [(m, cur, tgt) for m in Move for cur in ALL for tgt in CaseStatus]


def test_the_expected_table_names_every_move() -> None:
    assert set(EXPECTED) == set(Move)


@pytest.mark.parametrize(("move", "current", "target"), CASES, ids=str)
def test_a_move_is_allowed_exactly_where_the_table_says(
    move: Move, current: CaseStatus | None, target: CaseStatus
) -> None:
    sources, targets = EXPECTED[move]
    if current in sources and target in targets:
        check(move, current, target)
    else:
        with pytest.raises(TransitionRefused):
            check(move, current, target)


def test_closed_is_final_and_only_a_split_leaves_cancelled() -> None:
    leaving = {m for m in Move for t in CaseStatus if _allowed(m, C, t)}
    assert leaving == set()
    assert {m for m in Move for t in CaseStatus if _allowed(m, X, t)} == {Move.SPLIT}


def test_a_person_refused_is_told_what_could_come_next() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check(Move.ACKNOWLEDGE, R, A)
    assert (
        str(refused.value)
        == "a case that is resolved cannot become acknowledged; allowed next: closed, reopened"
    )
    with pytest.raises(TransitionRefused) as final:
        check(Move.REOPEN, C, RE)
    assert str(final.value).endswith("allowed next: none (final state)")


def _allowed(move: Move, current: CaseStatus, target: CaseStatus) -> bool:
    try:
        check(move, current, target)
    except TransitionRefused:
        return False
    return True
