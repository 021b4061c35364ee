"""/csat/<token>: where a customer answers a survey from an e-mail's link, without
signing in (the signed token is the permission; inbox.core.tokens).

Opening a link records nothing: mail systems open links to scan them, so the page
asks, with the clicked score chosen, and only the form's POST answers. The page is in
the survey's language, right to left where that language is; a link that is not ours,
has expired or was answered already says so in those words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from inbox.csat import surveys
from inbox.store.db import reader
from inbox.store.models import Conversation, Survey
from inbox.web.context import Pages, WebContext, text_direction

T = TypeVar("T")

_EN: dict[str, object] = {"title": "How did we do?", "lead": "Your request: {subject}",
       "scores": ("1 · poor", "2", "3", "4", "5 · excellent"),
       "comment": "Anything you would like to tell us? (optional)", "send": "Send",
       "thanks": "Thank you! Your answer has reached us.",
       "answered": "This survey has been answered already. Thank you!",
       "expired": "This link has expired. If something is still not right, write to us.",
       "invalid": "This link is not valid."}
WORDS: dict[str, dict[str, object]] = {
    "en": _EN,
    "pl": {"title": "Jak nam poszło?", "lead": "Twoje zgłoszenie: {subject}",
           "scores": ("1 · źle", "2", "3", "4", "5 · świetnie"),
           "comment": "Chcesz coś dodać? (nieobowiązkowo)", "send": "Wyślij",
           "thanks": "Dziękujemy! Twoja odpowiedź do nas dotarła.",
           "answered": "Ta ankieta ma już odpowiedź. Dziękujemy!",
           "expired": "Ten link wygasł. Jeśli coś nadal nie działa, napisz do nas.",
           "invalid": "Ten link jest nieprawidłowy."},
    "fa": {"title": "کار ما چطور بود؟", "lead": "درخواست شما: {subject}",
           "scores": ("۱ · بد", "۲", "۳", "۴", "۵ · عالی"),
           "comment": "چیزی هست که بخواهید به ما بگویید؟ (اختیاری)", "send": "ارسال",
           "thanks": "سپاس! پاسخ شما به دست ما رسید.",
           "answered": "به این نظرسنجی پیش‌تر پاسخ داده شده است. سپاس!",
           "expired": "این پیوند منقضی شده است. اگر هنوز چیزی درست نیست، به ما بنویسید.",
           "invalid": "این پیوند معتبر نیست."},
    "th": {"title": "เราให้บริการเป็นอย่างไรบ้าง", "lead": "เรื่องของคุณ: {subject}",
           "scores": ("1 · ไม่ดี", "2", "3", "4", "5 · ดีมาก"),
           "comment": "มีอะไรอยากบอกเราไหมคะ (ไม่บังคับ)", "send": "ส่ง",
           "thanks": "ขอบคุณค่ะ เราได้รับคำตอบของคุณแล้ว",
           "answered": "แบบสอบถามนี้ได้รับคำตอบแล้ว ขอบคุณค่ะ",
           "expired": "ลิงก์นี้หมดอายุแล้ว หากยังมีปัญหา เขียนถึงเราได้เลยค่ะ",
           "invalid": "ลิงก์นี้ไม่ถูกต้อง"},
    "tl": {"title": "Kumusta ang aming serbisyo?", "lead": "Ang iyong kahilingan: {subject}",
           "scores": ("1 · hindi maganda", "2", "3", "4", "5 · napakahusay"),
           "comment": "May gusto ka bang sabihin sa amin? (opsyonal)", "send": "Ipadala",
           "thanks": "Salamat! Natanggap namin ang iyong sagot.",
           "answered": "Nasagot na ang survey na ito. Salamat!",
           "expired": "Nag-expire na ang link na ito. Kung may hindi pa rin maayos, "
                      "sumulat sa amin.",
           "invalid": "Hindi wasto ang link na ito."},
    "vi": {"title": "Chúng tôi phục vụ bạn thế nào?", "lead": "Yêu cầu của bạn: {subject}",
           "scores": ("1 · kém", "2", "3", "4", "5 · rất tốt"),
           "comment": "Bạn có muốn nói thêm điều gì không? (không bắt buộc)",
           "send": "Gửi", "thanks": "Cảm ơn bạn! Chúng tôi đã nhận được câu trả lời.",
           "answered": "Khảo sát này đã được trả lời. Cảm ơn bạn!",
           "expired": "Liên kết này đã hết hạn. Nếu vẫn còn điều gì chưa ổn, hãy viết "
                      "cho chúng tôi.",
           "invalid": "Liên kết này không hợp lệ."},
}
_STATUS = {"invalid": 404, "expired": 410, "answered": 200}


class SurveyPage:
    def __init__(self, ctx: WebContext, pages: Pages) -> None:
        self.ctx, self.pages = ctx, pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/csat/{token}", self.page, methods=["GET", "POST"])]

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        form = await request.form() if request.method == "POST" else None

        def work(s: Session) -> tuple[str, str, JSONish]:
            try:
                survey = surveys.by_link(s, self.ctx.secret, token, self.ctx.clock(),
                                         lock=form is not None)
            except surveys.SurveyError as exc:
                return exc.why, exc.language or "en", {}
            language = survey.language or "en"
            if form is None:
                return "ask", language, _asked(s, survey, request)
            score = str(form.get("score", ""))
            if score not in {"1", "2", "3", "4", "5"}:
                return "ask", language, _asked(s, survey, request)
            surveys.answer(s, survey, int(score), str(form.get("comment", "")),
                           via="link", now=self.ctx.clock())
            return "thanks", language, {}
        state, language, more = await self._db(work, write=form is not None)
        return self._render(request, state, language, more)

    def _render(self, request: Request, state: str, language: str,
                more: JSONish) -> Response:
        base = language.split("-", maxsplit=1)[0].lower()
        words = WORDS.get(base, _EN)
        return self.pages.templates.TemplateResponse(
            request, "csat.html", {"state": state, "w": words, "lang": base,
                                   "dir": text_direction(base), "name": self.ctx.name,
                                   **more},
            status_code=_STATUS.get(state, 200),
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    async def _db(self, work: Callable[[Session], T], write: bool) -> T:
        """Opening a link only reads (beside the daemon's writes on SQLite)."""
        engine = self.ctx.engine if write else reader(self.ctx.engine)

        def run() -> T:
            with Session(engine, expire_on_commit=False) as s, s.begin():
                return work(s)
        return await run_in_threadpool(run)


JSONish = dict[str, object]


def _asked(s: Session, survey: Survey, request: Request) -> JSONish:
    conv = s.get(Conversation, survey.conversation_id)
    chosen = request.query_params.get("score", "")
    return {"subject": conv.subject if conv else "", "chosen": chosen,
            "action": f"/csat/{request.path_params['token']}"}
