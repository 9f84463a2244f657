"""The window's undo stack, which rejects a push while one of its commands runs."""

from __future__ import annotations

from whalecat.gui.undo import StoredCommand, UndoStack


class CallingCommand(StoredCommand):
    """A command that stores nothing and calls `during` each time it is undone or redone."""

    def __init__(self, text: str, during=lambda: None):
        super().__init__(text)
        self.during = during

    def reapply(self) -> bool:
        self.during()
        return True

    def revert(self) -> bool:
        self.during()
        return True


def test_push_during_undo_rejected(qapp):
    stack = UndoStack()
    rejected = []

    def push_inner() -> None:
        try:
            stack.push(CallingCommand("inner"))
        except RuntimeError as exc:
            rejected.append(str(exc))

    stack.push(CallingCommand("outer", push_inner))
    assert rejected == []  # the first redo, inside push, stores nothing

    stack.undo()
    assert rejected == ["cannot push 'inner' onto the undo stack while 'outer' is being undone or redone"]
    assert (stack.count(), stack.index()) == (1, 0)
    assert stack.running is None

    stack.redo()
    assert len(rejected) == 2
    assert (stack.count(), stack.index()) == (1, 1)

    stack.push(CallingCommand("after"))
    assert (stack.count(), stack.index()) == (2, 2)


def test_failed_undo_clears_running(qapp):
    stack = UndoStack()
    failed = CallingCommand("failing")
    stack.push(failed)
    failed.revert = lambda: False  # storing failed and was reported

    stack.undo()

    assert stack.running is None
    assert stack.count() == 0  # obsolete, so dropped
