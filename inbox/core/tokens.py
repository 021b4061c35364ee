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


# A survey's links (inbox.csat): "<survey id>.<expiry, Unix seconds>.<signature>". The
# signature is over both, so neither can be changed; the expiry is read back from the
# token, so a link answers until then without the database keeping the link.
_SURVEY = re.compile(r"^(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{22})$")


def _survey_signature(secret: str, survey_id: int, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"survey:{survey_id}:{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")


def survey_token(secret: str, survey_id: int, expires: int) -> str:
    return f"{survey_id}.{expires}.{_survey_signature(secret, survey_id, expires)}"


def read_survey_token(secret: str, token: str) -> tuple[int, int] | None:
    """(survey id, expiry) of a token we made; None for anything else."""
    found = _SURVEY.match(token)
    if found is None:
        return None
    survey_id, expires = int(found[1]), int(found[2])
    if not hmac.compare_digest(found[3], _survey_signature(secret, survey_id, expires)):
        return None
    return survey_id, expires
