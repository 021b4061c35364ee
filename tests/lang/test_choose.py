"""Which language wins (inbox.lang.choose): the order the issue gives, and learning."""

from __future__ import annotations

from inbox.lang.choose import ContactLanguage, choose, learn, primary

SERVED = frozenset({"th", "fa", "pl", "tl", "vi", "en"})
NOBODY = ContactLanguage()


def _pick(conversation: tuple[str | None, str | None] = (None, None),
          contact: ContactLanguage = NOBODY, detected: str | None = None,
          hint: str | None = None) -> tuple[str, str]:
    c = choose(conversation=conversation, contact=contact, detected=detected, hint=hint,
               served=SERVED, default="en")
    return c.language, c.source


def test_each_source_in_its_order() -> None:
    everything = ContactLanguage("vi", "agent", "th", 1)
    assert _pick(("fa", "agent"), everything, "pl", "tl") == ("fa", "agent")
    assert _pick(("fa", "detected"), everything, "pl", "tl") == ("vi", "contact")
    assert _pick(("fa", "detected"), ContactLanguage(None, None, "th", 1), "pl",
                 "tl") == ("pl", "detected")
    assert _pick(("fa", "detected"), ContactLanguage(None, None, "th", 1), None,
                 "tl") == ("th", "history")
    assert _pick(hint="pl-PL") == ("pl", "channel")
    assert _pick(hint="fil") == ("tl", "channel")  # Telegram's code for Filipino
    assert _pick(hint="de") == ("en", "default")  # a language nobody here serves
    assert _pick() == ("en", "default")


def test_an_agents_choice_survives_every_detection() -> None:
    for detected in ("pl", "th", None):
        assert _pick(("vi", "agent"), ContactLanguage("fa", "learned", "fa", 9),
                     detected) == ("vi", "agent")


def test_a_preference_is_learned_from_three_agreeing_detections() -> None:
    contact = ContactLanguage()
    for _ in range(2):
        contact = learn(contact, "pl", learn_after=3)
    assert contact.preferred is None and (contact.last, contact.last_count) == ("pl", 2)
    contact = learn(contact, None, learn_after=3)  # "ok": unknown changes nothing
    assert contact.last_count == 2
    contact = learn(contact, "pl", learn_after=3)
    assert (contact.preferred, contact.preferred_source) == ("pl", "learned")
    # A regular customer writing on in Polish changes nothing (nothing to write).
    assert learn(contact, "pl", learn_after=3) == contact
    contact = learn(contact, "en", learn_after=3)  # one English message: still Polish
    assert contact.preferred == "pl" and (contact.last, contact.last_count) == ("en", 1)


def test_learning_never_replaces_an_agents_choice_for_the_contact() -> None:
    contact = ContactLanguage("th", "agent")
    for _ in range(5):
        contact = learn(contact, "en", learn_after=3)
    assert (contact.preferred, contact.preferred_source) == ("th", "agent")


def test_primary_subtags() -> None:
    assert [primary(t) for t in ("pt-BR", "PL", "vi_VN", "fil", " fa ")] == [
        "pt", "pl", "vi", "tl", "fa"]
