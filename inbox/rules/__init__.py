"""Routing rules that admins write in `rules/*.yaml`: a closed vocabulary, checked at load.

- `source`: YAML with line numbers; problems as file:line with "did you mean ...?"
- `text`: Unicode-aware folding and word matching (Thai, Persian, Vietnamese ...)
- `conditions`, `actions`: the vocabulary of `when:` and `then:`
- `engine`: loading, the rule index, route and explain
- `live`: the daemon's router, reloaded when the files change
- `cases`: `rules/tests/*.yaml`, the admins' own unit tests of their rules
- `replay`: what the current rules would do to stored traffic

See docs/rules.md for the format.
"""

from inbox.rules.engine import Explanation, Report, Rule, RuleSet, load_rules
from inbox.rules.known import Known
from inbox.rules.live import LiveRules
from inbox.rules.source import Problem, RulesError

__all__ = ["Explanation", "Known", "LiveRules", "Problem", "Report", "Rule", "RuleSet",
           "RulesError", "load_rules"]
