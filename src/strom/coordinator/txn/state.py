"""Transaction states and their transition table (Kafka's TransactionState), and TransactionMetadata.

    state              may follow                                      meaning
    Empty              Empty, CompleteCommit, CompleteAbort            InitProducerId: no transaction yet
    Ongoing            Ongoing, Empty, CompleteCommit, CompleteAbort   partitions/offsets added
    PrepareCommit      Ongoing                                         EndTxn(commit) accepted
    PrepareAbort       Ongoing, PrepareEpochFence                      EndTxn(abort), time-out, fencing
    CompleteCommit     PrepareCommit                                   every COMMIT marker written
    CompleteAbort      PrepareAbort                                    every ABORT marker written
    PrepareEpochFence  Ongoing                                         a new producer (or the time-out)
                                                                       fences the open transaction: the
                                                                       epoch is bumped, then it aborts
    Dead               Empty, CompleteCommit, CompleteAbort            the id expired (a tombstone)

The initial state of a new id is Empty (its first record).  How each API answers
in each state is in coordinator.py.  ``TransactionMetadata`` is an immutable value:
the coordinator computes the next one, writes it as a record, and the replay of
that record swaps it in.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace


class TxnState(enum.Enum):
    EMPTY = "Empty"
    ONGOING = "Ongoing"
    PREPARE_COMMIT = "PrepareCommit"
    PREPARE_ABORT = "PrepareAbort"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"
    PREPARE_EPOCH_FENCE = "PrepareEpochFence"
    DEAD = "Dead"

    @property
    def is_complete_or_empty(self) -> bool:
        return self in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)

    @property
    def is_prepare(self) -> bool:
        return self in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT, TxnState.PREPARE_EPOCH_FENCE)


S = TxnState
VALID_PREVIOUS: dict[TxnState, frozenset[TxnState]] = {
    S.EMPTY: frozenset({S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
    S.ONGOING: frozenset({S.ONGOING, S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
    S.PREPARE_COMMIT: frozenset({S.ONGOING}),
    S.PREPARE_ABORT: frozenset({S.ONGOING, S.PREPARE_EPOCH_FENCE}),
    S.COMPLETE_COMMIT: frozenset({S.PREPARE_COMMIT}),
    S.COMPLETE_ABORT: frozenset({S.PREPARE_ABORT}),
    S.PREPARE_EPOCH_FENCE: frozenset({S.ONGOING}),
    S.DEAD: frozenset({S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
}


def can_transition(current: TxnState, target: TxnState) -> bool:
    return current in VALID_PREVIOUS[target]


class IllegalTransition(Exception):
    """A coordinator bug: it tried a transition the table does not allow."""


@dataclass(frozen=True)
class TransactionMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    last_producer_id: int = -1  # the previous id/epoch, so a retried InitProducerId is recognised (KIP-360)
    last_producer_epoch: int = -1
    txn_start_ms: int = -1
    last_update_ms: int = -1

    def transition(self, target: TxnState, **changes: object) -> "TransactionMetadata":
        """The next value, checked against the table (IllegalTransition otherwise)."""
        if not can_transition(self.state, target):
            raise IllegalTransition(f"{self.transactional_id}: {self.state.value} -> {target.value}")
        return replace(self, state=target, **changes)  # type: ignore[arg-type]
