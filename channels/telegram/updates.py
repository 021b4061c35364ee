"""Telegram updates as the core sees them: one `Inbound` per customer message.

What a customer sends becomes text an agent can read: the text or caption, or a
readable placeholder for what has no text (`[sticker 😀]`, `[voice message, 0:07]`,
`[location 52.22970, 21.01220]`). Photos, documents, voice, audio and video are
downloaded through the Bot API (getFile + the file URL) and handed over as attachments,
up to a size limit; a larger file is named in the text instead of downloaded.

Identities: a message's external id is `<bot id>:<chat id>:<message id>` (message ids
are only unique within a chat, and private chat ids are user ids, the same for every
bot), the sender's address is their user id, and the thread key is the chat (in a group:
the chat and the user), so a private chat is one conversation while it is open. An edit
is the same message again: it names the message it edits (`edit_of`) so the pipeline
changes that one. A `/start <payload>` from a deep link keeps the payload as the
conversation's `start` attribute. In groups only messages meant for the bot count (a
mention, a reply to the bot, a command to it) unless the operator asks for all.

What we cannot take as a customer message is kept, never dropped: a message whose
content neither we nor python-telegram-bot know (a newer Telegram feature), and an
update whose fields have types Telegram never sends, become flagged messages with the
update's JSON attached (`unreadable`). Only service messages (joins, pins, title and
timer changes: PTB's own list of them) are skipped.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from telegram import Chat, Message, MessageEntity, Update, User
from telegram.ext import filters
from telegram.warnings import PTBDeprecationWarning

from channels.base import Address, Inbound, InboundAttachment

CHANNEL = "telegram"
Groups = Literal["mention", "all", "off"]
# Only these update types are asked for; everything else is not a customer writing.
ALLOWED_UPDATES = ("message", "edited_message")


class FileSkipped(Exception):
    """A file the Bot API will not give us (too large, gone): named in the text instead."""


Download = Callable[[str], Awaitable[bytes]]  # file_id -> the file's bytes


@dataclass(frozen=True)
class Bot:
    """Who we are in the chat: our id and @username (for mentions)."""

    id: int
    username: str


@dataclass(frozen=True)
class Policy:
    groups: Groups = "mention"
    reopen_window: timedelta = timedelta(0)
    max_file_bytes: int = 20 * 1024 * 1024


class Ref(NamedTuple):
    bot: int
    chat: int
    message: int


def ref(bot: int, chat: int, message: int) -> str:
    return f"{bot}:{chat}:{message}"


def parse_ref(value: str | None) -> Ref | None:
    """The parts of one of our external ids (an edit's too); None for anything else."""
    parts = (value or "").split(":")
    if len(parts) == 5 and parts[3] == "edit":  # `<bot>:<chat>:<message>:edit:<time>`
        parts = parts[:3]
    if len(parts) != 3:
        return None
    try:
        return Ref(*(int(p) for p in parts))
    except ValueError:
        return None


@dataclass(frozen=True)
class FileRef:
    file_id: str
    filename: str
    content_type: str
    size: int | None


def period(obj: object, name: str) -> float:
    """A duration attribute in seconds, whichever type this PTB version returns.

    PTB 22 warns when these are read as ints (they turn into timedeltas in 23); the
    value is the same either way, so the warning is silenced here, in one place.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = getattr(obj, name, None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value or 0)


async def to_inbound(update: Update, account: str, me: Bot, policy: Policy,
                     download: Download) -> Inbound | None:
    """The customer message in `update`, or None when it is not one for us."""
    msg = update.message or update.edited_message
    if msg is None:
        return None
    check_types(msg)
    if not addressed_to_us(msg, me, policy.groups):
        return None
    edit = update.edited_message is not None
    label, files = content(msg)
    if label is None:
        if filters.StatusUpdate.ALL.check_update(update):
            return None  # a service message: someone joined, a pin, a timer change
        return _unknown_kind(update, msg, account, me, policy, edit=edit)
    text = msg.text or msg.caption or label
    attachments: list[InboundAttachment] = []
    notes: list[str] = []
    if not edit:  # an edit only changes text; its media were handed over already
        attachments, notes = await _fetch_files(files, policy.max_file_bytes, download)
    return _inbound(msg, account, me, policy, text="\n".join([text, *notes]),
                    attachments=tuple(attachments), edit=edit)


def check_types(msg: Message) -> None:
    """PTB takes the JSON's values as they come: a chat id that is not a number, or text
    that is not text, would become a conversation nobody can answer. ValueError says
    what is wrong, and the connector keeps the update flagged instead."""
    ids = {"message_id": msg.message_id, "chat.id": msg.chat.id,
           "from.id": msg.from_user.id if msg.from_user is not None else 0}
    for name, value in ids.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} is {type(value).__name__}, not a number")
    for name in ("text", "caption"):
        value = getattr(msg, name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} is {type(value).__name__}, not text")


def _unknown_kind(update: Update, msg: Message, account: str, me: Bot, policy: Policy, *,
                  edit: bool) -> Inbound:
    """A message whose content neither we nor python-telegram-bot know (a feature newer
    than both): kept in its chat's conversation, flagged, with the update attached."""
    kinds = ", ".join(sorted(k for k, v in update.to_dict().get(
        "edited_message" if edit else "message", {}).items()
        if v and k not in _ENVELOPE)) or "unknown content"
    problem = f"Telegram sent a kind of message this version cannot show ({kinds})"
    return _inbound(msg, account, me, policy,
                    text=f"[a message inbox cannot show ({kinds}): the update is attached]",
                    attachments=(update_json(update.to_dict()),), edit=edit,
                    problems=(problem,))


def _inbound(msg: Message, account: str, me: Bot, policy: Policy, *, text: str,
             attachments: tuple[InboundAttachment, ...], edit: bool,
             problems: tuple[str, ...] = ()) -> Inbound:
    chat, sender = msg.chat, _sender(msg)
    own = ref(me.id, chat.id, msg.message_id)
    reply = msg.reply_to_message
    when = (msg.edit_date if edit else None) or msg.date
    return Inbound(
        channel=CHANNEL, account=account,
        external_id=f"{own}:edit:{int(when.timestamp())}" if edit else own,
        edit_of=own if edit else None,
        sender=sender, received_at=when.astimezone(UTC), text=text,
        subject=_preview(text),
        references=(ref(me.id, chat.id, reply.message_id),) if reply else (),
        thread_key=str(chat.id) if chat.type == Chat.PRIVATE
        else f"{chat.id}/{sender.address}",
        headers=_headers(msg), attachments=attachments,
        language=_language(msg.from_user), attributes=_start_payload(msg.text),
        reopen_window=policy.reopen_window, reachable=chat.type == Chat.PRIVATE,
        problems=problems,
    )


def addressed_to_us(msg: Message, me: Bot, groups: Groups) -> bool:
    """Private chats always; groups per the operator's choice; channels never."""
    if msg.chat.type == Chat.PRIVATE:
        return True
    if msg.chat.type == Chat.CHANNEL or groups == "off":
        return False
    return groups == "all" or _meant_for(msg, me)


def _meant_for(msg: Message, me: Bot) -> bool:
    """A group message that mentions the bot, answers it, or gives it a command."""
    reply = msg.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
        return True
    handle = f"@{me.username}".lower()
    # Only the kinds that can name us: a message may carry thousands of others.
    kinds: list[str | None] = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION,
                               MessageEntity.BOT_COMMAND]
    entities = {**msg.parse_entities(kinds), **msg.parse_caption_entities(kinds)}
    for entity, value in entities.items():
        if entity.type == MessageEntity.MENTION and value.lower() == handle:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None \
                and entity.user.id == me.id:
            return True
        if entity.type == MessageEntity.BOT_COMMAND and value.lower().endswith(handle):
            return True
    return False


def content(msg: Message) -> tuple[str | None, list[FileRef]]:
    """A readable label for what the message carries, and the files to download.

    The label is None for service messages (nothing a customer wrote).
    """
    for kind, describe in _MEDIA:
        item = getattr(msg, kind, None)
        if item:
            return describe(item)
    for kind in _OTHER_CONTENT:
        if getattr(msg, kind, None):
            return f"[{kind.replace('_', ' ')}]", []
    if msg.text or msg.caption:
        return "", []
    return None, []


def _photo(item: object) -> tuple[str, list[FileRef]]:
    sizes = item if isinstance(item, Sequence) else [item]
    biggest = sizes[-1]  # Telegram lists a photo's sizes smallest first
    unique = getattr(biggest, "file_unique_id", "photo")
    return "[photo]", [FileRef(getattr(biggest, "file_id", ""), f"photo-{unique}.jpg",
                               "image/jpeg", getattr(biggest, "file_size", None))]


def _file(label: str, default_name: str, default_type: str
          ) -> Callable[[object], tuple[str, list[FileRef]]]:
    def describe(item: object) -> tuple[str, list[FileRef]]:
        unique = getattr(item, "file_unique_id", "file")
        name = getattr(item, "file_name", None) or default_name.format(unique)
        ctype = getattr(item, "mime_type", None) or default_type
        text = label.format(name=name, duration=_minutes(period(item, "duration")))
        return text, [FileRef(getattr(item, "file_id", ""), name, ctype,
                              getattr(item, "file_size", None))]
    return describe


def _minutes(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _sticker(item: object) -> tuple[str, list[FileRef]]:
    emoji = getattr(item, "emoji", None)
    pack = getattr(item, "set_name", None)
    return "[sticker" + (f" {emoji}" if emoji else "") + (f" from {pack}" if pack else "") \
        + "]", []


def _location(item: object) -> tuple[str, list[FileRef]]:
    return (f"[location {getattr(item, 'latitude', 0):.5f}, "
            f"{getattr(item, 'longitude', 0):.5f}]"), []


def _venue(item: object) -> tuple[str, list[FileRef]]:
    return f"[place: {getattr(item, 'title', '')}, {getattr(item, 'address', '')}]", []


def _contact(item: object) -> tuple[str, list[FileRef]]:
    parts = (getattr(item, name, None) for name in ("first_name", "last_name", "phone_number"))
    return f"[contact: {' '.join(p for p in parts if p)}]", []


def _poll(item: object) -> tuple[str, list[FileRef]]:
    return f"[poll: {getattr(item, 'question', '')}]", []


def _dice(item: object) -> tuple[str, list[FileRef]]:
    return f"[dice {getattr(item, 'emoji', '')} {getattr(item, 'value', '')}]", []


_MEDIA: tuple[tuple[str, Callable[[object], tuple[str, list[FileRef]]]], ...] = (
    ("photo", _photo),
    ("document", _file("[document: {name}]", "document-{}", "application/octet-stream")),
    ("voice", _file("[voice message, {duration}]", "voice-{}.ogg", "audio/ogg")),
    ("audio", _file("[audio: {name}]", "audio-{}.mp3", "audio/mpeg")),
    ("video", _file("[video, {duration}]", "video-{}.mp4", "video/mp4")),
    ("video_note", _file("[video message, {duration}]", "video-note-{}.mp4", "video/mp4")),
    ("animation", _file("[GIF]", "animation-{}.mp4", "video/mp4")),
    ("sticker", _sticker),
    ("venue", _venue),  # before location: a venue carries a location too
    ("location", _location),
    ("contact", _contact),
    ("poll", _poll),
    ("dice", _dice),
)
# What every message carries besides its content: not a clue to what a message is.
_ENVELOPE = frozenset({
    "message_id", "from", "chat", "date", "edit_date", "sender_chat", "message_thread_id",
    "is_topic_message", "reply_to_message", "external_reply", "quote", "reply_to_story",
    "forward_origin", "is_automatic_forward", "via_bot", "author_signature",
    "has_protected_content", "media_group_id", "entities", "caption_entities",
    "link_preview_options", "reply_markup", "is_from_offline", "business_connection_id",
    "sender_boost_count", "sender_business_bot", "effect_id", "show_caption_above_media",
    "has_media_spoiler", "paid_star_count"})
# Content a customer can send that we do not take apart: named, never dropped.
_OTHER_CONTENT = ("story", "game", "invoice", "paid_media", "passport_data", "live_photo",
                  "giveaway", "checklist")


async def _fetch_files(files: list[FileRef], limit: int,
                       download: Download) -> tuple[list[InboundAttachment], list[str]]:
    attachments, notes = [], []
    for f in files:
        if f.size is not None and f.size > limit:
            notes.append(_too_big(f, f.size, limit))
            continue
        try:
            data = await download(f.file_id)
        except FileSkipped as exc:
            notes.append(f"[{f.filename}: not downloaded: {exc}]")
            continue
        if len(data) > limit:
            notes.append(_too_big(f, len(data), limit))
            continue
        attachments.append(InboundAttachment(f.filename, f.content_type, data))
    return attachments, notes


def _too_big(f: FileRef, size: int, limit: int) -> str:
    return (f"[{f.filename}: {_size(size)}, over the {_size(limit)} limit: not downloaded; "
            "ask the customer for a smaller file or another way]")


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def _sender(msg: Message) -> Address:
    user = msg.from_user
    if user is not None:
        return Address(str(user.id), user.full_name)
    chat = msg.sender_chat or msg.chat  # an anonymous group admin or a channel
    return Address(str(chat.id), chat.title or chat.full_name or "")


def _headers(msg: Message) -> dict[str, str]:
    chat, user = msg.chat, msg.from_user
    headers = {"telegram-chat": str(chat.id), "telegram-chat-type": str(chat.type),
               "telegram-message": str(msg.message_id)}
    if chat.title:
        headers["telegram-chat-title"] = chat.title
    if user is not None and user.username:
        headers["telegram-username"] = "@" + user.username
    if user is not None and user.is_bot:
        # Another bot in a group: loop protection must never answer it.
        headers["auto-submitted"] = "auto-generated"
    if msg.forward_origin is not None:
        headers["telegram-forwarded"] = str(msg.forward_origin.type)
    return headers


def _language(user: User | None) -> str | None:
    """`pt-br` -> `pt`: templates are per language, not per region."""
    code = (user.language_code or "") if user is not None else ""
    return code.split("-")[0].lower() or None


def _start_payload(text: str | None) -> dict[str, str]:
    """`/start order-1234` (a t.me/<bot>?start=order-1234 link) -> {"start": "order-1234"}."""
    parts = (text or "").split(maxsplit=1)
    if len(parts) == 2 and parts[0].split("@")[0] == "/start":
        return {"start": parts[1].strip()[:256]}
    return {}


def _preview(text: str) -> str:
    """A subject for the queue: chats have none, so the start of the first line."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= 60 else line[:59].rstrip() + "…"


def unreadable(update: Mapping[str, Any], account: str, me: Bot, problem: str,
               now: datetime) -> Inbound:
    """An update that could not be read, kept for a human: flagged (so never
    acknowledged), with the update itself attached, in its chat's conversation if any.

    Whatever the update holds, this does not raise: it is the last resort.
    """
    msg = _table(next((update[k] for k in ALLOWED_UPDATES if k in update), None))
    user, chat = _table(msg.get("from")), _table(msg.get("chat"))
    private = chat.get("type") == Chat.PRIVATE and isinstance(chat.get("id"), int)
    return Inbound(
        channel=CHANNEL, account=account,
        external_id=f"{me.id}:update:{update.get('update_id')}",
        sender=Address(str(user.get("id", "")), str(user.get("first_name", ""))),
        received_at=_date(msg.get("date"), now),
        text=str(msg.get("text") or msg.get("caption") or ""),
        thread_key=str(chat["id"]) if private else None,
        attachments=(update_json(update),), problems=(problem,))


def update_json(update: Mapping[str, Any]) -> InboundAttachment:
    data = json.dumps(dict(update), indent=1, default=str)
    return InboundAttachment("telegram-update.json", "application/json", data.encode())


def _date(value: object, now: datetime) -> datetime:
    """A Telegram date (Unix seconds), or `now` when it is none or not a possible one."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return now


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def utcnow() -> datetime:
    return datetime.now(UTC)
