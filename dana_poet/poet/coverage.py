"""How many examples are right at each value of one parameter, kept up to date per example.

Train's fit asks one question of the window, over and over: at which values of a
parameter are the most examples right? Each example answers with its *profile*, the
closed intervals of the parameter where it is right. `CoverageIndex` keeps the ends
of all those intervals in one sorted list, with how many intervals start and end at
each position, so that

- adding or removing one example costs a binary search and a list insertion per
  interval end (O(log E) comparisons plus one memmove; E = distinct ends, about 2 per
  example), never a pass over the window or over the stored history;
- the best count and the segments where it is reached come from two prefix sums
  and a scan for the maximum, all inside C loops (`itertools.accumulate`, `max`,
  `list.index`): O(E) with a small constant, no sorting and no replays.

Intervals are closed: a start and an end at the same position overlap there.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import accumulate

Interval = tuple[float, float]

_REBUILD_SHARE = 4  # a batch larger than 1/4 of the index is merged by one sort


class CoverageIndex:
    """The profiles of a set of examples (keyed), as sorted interval ends with counts.

    `fingerprint` names what the profiles were computed under (the function's code,
    the bounds, the other parameters' values); `pending` holds keys of examples that
    joined the window but are not profiled into this index yet.
    """

    def __init__(self, fingerprint: str = "") -> None:
        self.fingerprint = fingerprint
        self.members: dict[str, list[Interval]] = {}
        self.pending: set[str] = set()
        self._pos: list[float] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, key: object) -> bool:
        return key in self.members

    # ------------------------------------------------------------ changes
    def _bump(self, position: float, start: int, end: int) -> None:
        pos = self._pos
        i = bisect_left(pos, position)
        if i < len(pos) and pos[i] == position:
            s = self._starts[i] = self._starts[i] + start
            e = self._ends[i] = self._ends[i] + end
            if s == 0 and e == 0:
                del pos[i], self._starts[i], self._ends[i]
            return
        pos.insert(i, position)
        self._starts.insert(i, start)
        self._ends.insert(i, end)

    def add(self, key: str, intervals: list[Interval]) -> None:
        """Count one example in (replacing what the index held for `key`)."""
        self.discard(key)
        self.members[key] = intervals
        for low, high in intervals:
            self._bump(low, 1, 0)
            self._bump(high, 0, 1)

    def discard(self, key: str) -> None:
        """Count one example out (nothing happens for a key the index does not hold)."""
        self.pending.discard(key)
        intervals = self.members.pop(key, None)
        if intervals is None:
            return
        for low, high in intervals:
            self._bump(low, -1, 0)
            self._bump(high, 0, -1)

    def add_many(self, items: Iterable[tuple[str, list[Interval]]]) -> None:
        """Count many examples in; a batch that is large next to the index is merged by
        rebuilding the sorted ends once (O(E log E)) rather than inserting one by one."""
        batch = list(items)
        if len(batch) * _REBUILD_SHARE <= len(self.members):
            for key, intervals in batch:
                self.add(key, intervals)
            return
        for key, intervals in batch:
            self.pending.discard(key)
            self.members[key] = intervals
        starts: dict[float, int] = {}
        ends: dict[float, int] = {}
        for intervals in self.members.values():
            for low, high in intervals:
                starts[low] = starts.get(low, 0) + 1
                ends[high] = ends.get(high, 0) + 1
        self._pos = sorted(starts.keys() | ends.keys())
        self._starts = [starts.get(p, 0) for p in self._pos]
        self._ends = [ends.get(p, 0) for p in self._pos]

    # ------------------------------------------------------------ questions
    def count_at(self, value: float) -> int:
        """How many examples are right at `value`: starts at or before it, less ends before it."""
        opened = sum(self._starts[: bisect_right(self._pos, value)])
        closed = sum(self._ends[: bisect_left(self._pos, value)])
        return opened - closed

    def best(self) -> tuple[int, list[Interval]]:
        """The largest number of examples right at one value, and the maximal segments
        where it is reached (in increasing order; a segment may be a single point)."""
        pos, ends = self._pos, self._ends
        if not pos:
            return 0, []
        # examples right at pos[i]: starts up to and including i, ends strictly before i
        coverage = list(map(operator.sub, accumulate(self._starts), accumulate(ends, initial=0)))
        top = max(coverage)
        if top <= 0:
            return 0, []
        segments: list[Interval] = []
        i = 0
        # Between two neighbouring positions the count is coverage[i] - ends[i]; a run at
        # the top therefore ends at the first position where something ends, which is i
        # itself or i + 1 (a position inside a run would have neither starts nor ends,
        # and the index keeps no such position).
        while True:
            try:
                i = coverage.index(top, i)
            except ValueError:
                return top, segments
            if ends[i] > 0:
                segments.append((pos[i], pos[i]))
                i += 1
            else:
                segments.append((pos[i], pos[i + 1]))
                i += 2
