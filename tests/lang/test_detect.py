"""Language detection on the labelled set of tests/lang/samples.py: what each customer
gets is their language or, when the detector is unsure, the default, and almost never
another customer's language. `pytest -s` shows the confusion matrix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from inbox.lang.detect import KNOWN, Detection, Detector, _Model, model_loads
from tests.lang.samples import CHAT, HARD, LANGUAGES, LONG, Hard

ROOT = Path(__file__).resolve().parents[2]
UNKNOWN = "unknown"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector()


def confusion(detector: Detector, samples: dict[str, tuple[str, ...]]
              ) -> dict[str, Counter[str]]:
    """For each true language, how often each answer (or unknown) was given."""
    return {lang: Counter(detector.detect(text).language or UNKNOWN for text in texts)
            for lang, texts in samples.items()}


def show(title: str, matrix: dict[str, Counter[str]]) -> None:
    columns = [*LANGUAGES, UNKNOWN]
    print(f"\n{title} (rows: written in, columns: detected)")
    print("      " + "".join(f"{c:>8}" for c in columns))
    for lang, answers in matrix.items():
        print(f"{lang:>6}" + "".join(f"{answers[c]:>8}" for c in columns))


def test_chat_lines_are_right_or_fall_back_and_almost_never_wrong(
        detector: Detector) -> None:
    matrix = confusion(detector, CHAT)
    show("chat lines, 7-89 characters", matrix)
    for lang, answers in matrix.items():
        total = sum(answers.values())
        assert total >= 30, lang
        right, unknown = answers[lang], answers[UNKNOWN]
        wrong = total - right - unknown
        assert (right + unknown) / total >= 0.99, (lang, answers)
        assert wrong / total <= 0.01, (lang, answers)
        assert right / total >= 0.90, (lang, answers)


def test_longer_mails_are_always_right(detector: Detector) -> None:
    matrix = confusion(detector, LONG)
    show("mails of 150 characters and more", matrix)
    for lang, answers in matrix.items():
        assert answers[lang] == sum(answers.values()) >= 5, (lang, answers)


@pytest.mark.parametrize("hard", HARD, ids=[h.case for h in HARD])
def test_hard_cases_get_their_fixed_outcome(detector: Detector, hard: Hard) -> None:
    found = detector.detect(hard.text, hard.subject, subject_is_ours=hard.subject_is_ours)
    assert found.language in hard.expected, found


def test_the_reason_says_why_in_words(detector: Detector) -> None:
    assert detector.detect("ok") == Detection(None, 0.0, "too few letters")
    assert detector.detect("mersi, baste residesh").reason == (
        "Persian in Latin letters (Finglish)")
    unsure = detector.detect("Minh muon huy don hang nay")
    assert unsure.language is None
    assert unsure.reason == f"below threshold 0.8 (vi {unsure.confidence:.2f})"
    assert detector.detect("Wo ist meine Bestellung?").reason == (
        "not a served language (de 0.97)")
    sure = detector.detect("Dzień dobry, paczka nadal nie dotarła.")
    assert (sure.language, sure.reason) == ("pl", "detected")
    assert sure.confidence >= 0.8


def test_no_latin_sample_is_taken_for_finglish(detector: Detector) -> None:
    texts = [t for lang in ("pl", "tl", "vi", "en") for t in CHAT[lang] + LONG[lang]]
    texts += [h.text for h in HARD if h.expected & {"tl", "en", "vi"}]
    assert [t for t in texts if "Finglish" in detector.detect(t).reason] == []


def test_only_the_deployments_languages_are_answered() -> None:
    polish_english = Detector(["pl", "en"])
    assert polish_english.detect("Dziękuję za szybką odpowiedź!").language == "pl"
    # Thai is not served here: no Polish or English ack for a Thai customer
    thai = polish_english.detect("ขอบคุณที่ตอบเร็วนะคะ")
    assert (thai.language, thai.reason) == (None, "not a served language (th 1.00)")
    with pytest.raises(ValueError, match="xx"):
        Detector(["pl", "xx"])


def test_a_language_we_do_not_serve_is_not_taken_for_its_neighbour(
        detector: Detector) -> None:
    indonesian = detector.detect("Di mana pesanan saya? Sudah dua minggu saya menunggu.")
    assert indonesian.language is None
    assert indonesian.reason.startswith("not a served language (")
    # the same words served: a deployment for Indonesian answers it
    assert Detector(["id", "tl", "en"]).detect(
        "Di mana pesanan saya? Sudah dua minggu saya menunggu.").language == "id"
    # Persian letters are no proof of Persian
    assert detector.detect("أين طلبي؟ أنتظر منذ أسبوعين.").language is None
    assert detector.detect("سفارش من کجاست؟").language == "fa"


def test_the_subject_counts_unless_it_is_ours(detector: Detector) -> None:
    ours = "Re: [#42-k7q2m] We have your message"
    assert detector.detect("?", ours, subject_is_ours=True).language is None
    assert detector.detect("?", "RE: AW: Where is my order?").language == "en"
    theirs = detector.detect("Dziękuję", "Re: Your order has shipped [#42-k7q2m]",
                             subject_is_ours=True)
    assert theirs.language == "pl"


def test_bad_input_is_unknown_or_answered_never_an_error(detector: Detector) -> None:
    for text in ("\x00\x00\x00", "\ud800\udfff abc déf", "\u200f\u200e", "a" * 5_000_000,
                 "Gdzie jest moja paczka?" * 100_000):
        assert isinstance(detector.detect(text, subject="\ud800"), Detection)


# --- one model per process, no network --------------------------------------------------

NO_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise OSError("no network in this test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
"""
LOAD_FROM_THREADS = """
import json, socket, threading
from inbox.lang.detect import Detector, model_loads
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
    network = "on"
except OSError as error:
    network = str(error)
built = Detector()
unloaded = model_loads()  # built, never asked: nothing loaded yet
answers = []
def ask():
    answers.append(Detector().detect("Dziękuję, paczka dzisiaj doszła!").language)
threads = [threading.Thread(target=ask) for _ in range(4)]  # four first uses at once
for thread in threads: thread.start()
for thread in threads: thread.join()
answers.append(Detector(["pl", "en"]).detect("Dziękuję, paczka dzisiaj doszła!").language)
print(json.dumps({"network": network, "unloaded": unloaded, "loads": model_loads(),
                  "answers": answers}))
"""


def test_the_model_loads_once_per_process_and_needs_no_network() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK + LOAD_FROM_THREADS],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)})
    result = json.loads(done.stdout)
    assert result["network"] == "no network in this test"  # the prelude did cut it
    assert result["unloaded"] == 0  # a daemon never given a message never loads it
    assert result["loads"] == 1  # five detectors, four first used at once, one model
    assert result["answers"] == ["pl"] * 5


def test_detectors_in_one_process_share_the_model(detector: Detector) -> None:
    Detector(["th", "en"]).detect("Where is my parcel? It is late.")
    assert model_loads() == 1


def test_the_languages_checked_at_start_are_the_models() -> None:
    """KNOWN checks a setting without loading the model: it must be the model's own list
    (an upgrade of the pinned py3langid that changes it fails here)."""
    assert set(_Model.get().nb_classes) == KNOWN
