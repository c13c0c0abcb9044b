"""Files a web chat visitor sends (a photo of the problem, a PDF): what an upload is, checked
before anything is kept, and how the transcript shows a message's files.

One upload is one message: its files and an optional caption. The assistant reads the
caption; an upload with none reaches it as "[photo]" (or "[file]"), because Rasa takes no
empty message, while the transcript shows the caption the visitor sent (none), the way a
pressed button's title is shown while Rasa gets its payload.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.webchat.frames import session_metadata
from adapters.webchat.sessions import WebchatSession
from bot.core.attachments import AttachmentRejected, AttachmentStore, base_type
from bot.core.messages import InboundMessage, InvalidMessage
from bot.core.models import Attachment, Channel
from bot.core.settings import Settings

UPLOAD_PATH = "/webchat/uploads"
# A few photos of one problem; more is a folder, not a chat message.
MAX_FILES = 4
# Room in a request for the multipart framing (boundaries, each part's headers), the id
# and the caption's own limit, besides the files themselves.
FORM_OVERHEAD_BYTES = 16 * 1024
MAX_FILENAME_CHARS = 200
# What the assistant reads for an upload without a caption (Rasa refuses empty text).
PHOTO_TEXT = "[photo]"
FILE_TEXT = "[file]"

# The first bytes of each kind of file customers send: the type kept is the one the bytes
# show, not the one the browser guessed from the file's name.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
)
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1"})
# Types whose files always start with a signature above: one declared without it is not
# what it says it is.
SIGNED_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "application/pdf"}
)
# Pictures a browser may show from our origin; anything else is only ever downloaded.
SHOWN_INLINE = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def upload_body_limit(settings: Settings) -> int:
    """The largest request POST /webchat/uploads takes: MAX_FILES files of the largest size
    kept, a caption and the multipart framing (the app's own limit is far smaller)."""
    return (
        settings.attachment_max_bytes * MAX_FILES
        + 2 * settings.max_message_bytes
        + FORM_OVERHEAD_BYTES
    )


@dataclass(frozen=True)
class UploadedFile:
    """One file of an upload, as the browser sent it."""

    data: bytes
    declared_type: str
    filename: str | None


def sniffed_type(data: bytes) -> str | None:
    """The type the first bytes of `data` show (JPEG, PNG, GIF, WebP, HEIC, PDF), if any."""
    for offset, signature, kind in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def kept_type(file: UploadedFile) -> str:
    """The type to check and keep `file` as: what its bytes show, else what the browser
    declared (a text file has no signature); 415 for a picture or PDF that is not one."""
    sniffed = sniffed_type(file.data)
    if sniffed is not None:
        return sniffed
    declared = base_type(file.declared_type)
    if declared in SIGNED_TYPES:
        raise InvalidMessage(
            "file_type_not_accepted",
            f"{file.filename or 'The file'} is not the {declared} it says it is.",
            status_code=415,
        )
    return declared or "application/octet-stream"


def check_file(store: AttachmentStore, file: UploadedFile) -> str:
    """The type `file` is kept as, once the store's limits accept it: 400 for an empty file,
    413 for one too big, 415 for a type not accepted (ATTACHMENT_TYPES)."""
    if not file.data:
        raise InvalidMessage("empty_file", f"{file.filename or 'The file'} is empty.", 400)
    kind = kept_type(file)
    try:
        store.check(content_type=kind, size_bytes=len(file.data))
    except AttachmentRejected as rejected:
        too_big = len(file.data) > store.max_bytes
        raise InvalidMessage(
            "file_too_large" if too_big else "file_type_not_accepted",
            f"{file.filename or 'That file'}: {rejected.reason}.",
            status_code=413 if too_big else 415,
        ) from None
    return kind


def clean_filename(raw: str | None) -> str | None:
    """The name a file had on the visitor's device, without folders or control characters,
    shortened; None when nothing is left."""
    if not raw:
        return None
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:MAX_FILENAME_CHARS] or None


def upload_inbound(
    *, session: WebchatSession, caption: str, kinds: Sequence[str], client_id: str | None
) -> InboundMessage:
    """The message of one upload from the visitor of `session`: its caption for the
    assistant, or "[photo]"/"[file]" (shown as no text) when it has none."""
    metadata = session_metadata(session)
    text = caption
    if not caption:
        metadata["display_text"] = ""
        text = PHOTO_TEXT if all(k.startswith("image/") for k in kinds) else FILE_TEXT
    return InboundMessage(
        text=text,
        sender_id=session.visitor_id,
        channel=Channel.WEBCHAT,
        message_id=f"{session.visitor_id}:{client_id}" if client_id else None,
        metadata=metadata,
    )


def render_files(attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
    """A message's files as the page shows them; `url` serves each to its customer only."""
    return [
        {
            "id": a.id,
            "filename": a.filename,
            "content_type": a.content_type,
            "size_bytes": a.size_bytes,
            "url": f"{UPLOAD_PATH}/{a.id}",
        }
        for a in attachments
    ]


def with_files(
    items: Sequence[dict[str, Any]], files: Mapping[int, Sequence[Attachment]]
) -> list[dict[str, Any]]:
    """Transcript items (each with its message's `id`), those with files showing them."""
    return [
        {**item, "attachments": render_files(files[item["id"]])} if item["id"] in files else item
        for item in items
    ]
