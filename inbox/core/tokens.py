"""Our conversation reference, `[#42-k7q2m]` or `support+42-k7q2m@...`: made and found.

The token carries an HMAC of the conversation id, so a customer cannot join someone
else's conversation by typing a number. Apart from inbox.ingest.threads so that listings
(`inbox sla`) can print references without loading the store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

_TOKEN = re.compile(r"\[#(\d{1,12})-([a-z2-7]{5})\]", re.IGNORECASE)
_PLUS = re.compile(r"\+(\d{1,12})-([a-z2-7]{5})@", re.IGNORECASE)


def _signature(secret: str, conversation_id: int) -> str:
    mac = hmac.new(secret.encode(), f"conversation:{conversation_id}".encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()).decode()[:5].lower()


def reference(secret: str, conversation_id: int) -> str:
    """The token we print in acks and subjects, e.g. `[#42-k7q2m]`."""
    return f"[#{conversation_id}-{_signature(secret, conversation_id)}]"


def tokens_in(secret: str, texts: Iterable[str]) -> list[int]:
    """Conversation ids whose valid signed token appears in any of `texts`."""
    found = []
    for text in texts:
        for pattern in (_TOKEN, _PLUS):
            for num, sig in pattern.findall(text):
                cid = int(num)
                if hmac.compare_digest(sig.lower(), _signature(secret, cid)):
                    found.append(cid)
    return found
