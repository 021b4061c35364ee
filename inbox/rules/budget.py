"""One message's time for the regexes of all its rules.

A pattern that backtracks without end (`(a|aa)+$` on "aaaa…!") would hold the connector
that routes the message for as long as it runs. A cap per pattern is not enough: twenty
such rules are twenty caps. So each message gets one budget (`rules_time_budget`, 0.5 s
by default) shared by every regex search of every rule; each search may use what is
left, and once the time is gone the remaining regex conditions count as not matching.
The message is still routed by what matched so far, and the decision names the rule
that was being evaluated (`RouteDecision.over_budget`), so an admin can fix it.

The budget is counted in the process's CPU time (`time.process_time`), the clock the
`regex` module's own timeout counts, so that what a search is given and what it may
take agree. On a machine busy with other work the wall time can be longer; a runaway
pattern can no longer multiply it. Only regex searches read the clock (injected, so
tests need no sleeps): words, phrases and substrings take microseconds and are never
cut short. A search's result is remembered for the message, so the `why` a matched
rule records costs no second search, and rules that share a pattern share its search.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import regex

DEFAULT_BUDGET = 0.5  # seconds for all the regexes of one message
Clock = Callable[[], float]


class Budget:
    __slots__ = ("clock", "deadline", "found", "out", "seconds")

    def __init__(self, seconds: float = DEFAULT_BUDGET, clock: Clock = time.process_time) -> None:
        self.seconds, self.clock = seconds, clock
        self.deadline = clock() + seconds
        self.found: dict[tuple[regex.Pattern[str], str], regex.Match[str] | None] = {}
        self.out: str | None = None  # why the time ran out, once it has

    def search(self, p: regex.Pattern[str], text: str, label: str
               ) -> regex.Match[str] | None:
        """`p.search(text)` within what is left of the budget; None once it is spent."""
        key = (p, text)
        if key in self.found:
            return self.found[key]
        if self.out is not None:
            return None
        left = self.deadline - self.clock()
        try:
            if left <= 0:
                raise TimeoutError
            found = self.found[key] = p.search(text, timeout=left)
        except TimeoutError:
            self.out = (f"the {self.seconds:g} s the rules have for one message ran out "
                        f"while {label} was matched against /{p.pattern}/; it and the "
                        f"regexes after it counted as not matching")
            return None
        return found
